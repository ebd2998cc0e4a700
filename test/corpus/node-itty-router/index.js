// An itty-router v5 API: AutoRouter with params, query, JSON bodies and its error helper.
import { AutoRouter, error } from 'itty-router';

const router = AutoRouter();

router
  .get('/hello/:name', ({ params, query }) => ({ hello: params.name, loud: query.loud === '1' }))
  .post('/sum', async (request) => {
    const numbers = await request.json();
    if (!Array.isArray(numbers)) return error(400, 'send an array of numbers');
    return { sum: numbers.reduce((a, b) => a + Number(b), 0) };
  });

export default router;
