// A Hono app as its starter writes one, with validation errors turned into the app's own answers.
import { Hono } from 'hono';
import { HTTPException } from 'hono/http-exception';
import { logger } from 'hono/logger';

type Todo = { id: number; title: string };
const todos: Todo[] = [];

const app = new Hono();
app.use(logger());

app.get('/', (c) => c.text('Hello Hono!'));
app.get('/todos', (c) => c.json(todos));
app.post('/todos', async (c) => {
  const body = await c.req.json<{ title?: unknown }>().catch(() => {
    throw new HTTPException(400, { message: 'the body must be JSON' });
  });
  if (typeof body.title !== 'string' || body.title === '') throw new HTTPException(422, { message: 'title is required' });
  const todo = { id: todos.length + 1, title: body.title };
  todos.push(todo);
  return c.json(todo, 201);
});
// A response built wrong: Node's Response constructor throws, and the app's onError answers.
app.get('/broken', () => new Response('x', { status: 99 }));

app.onError((err, c) => {
  if (err instanceof HTTPException) return c.json({ error: err.message }, err.status);
  return c.json({ error: `${err.name}: unexpected` }, 500);
});
app.notFound((c) => c.json({ error: 'not found' }, 404));

export default app;
