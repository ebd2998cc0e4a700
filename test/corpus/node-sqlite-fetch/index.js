import Database from 'better-sqlite3';

const db = new Database(':memory:');
db.exec('CREATE TABLE notes (id INTEGER PRIMARY KEY, text TEXT NOT NULL)');
const insert = db.prepare('INSERT INTO notes (text) VALUES (?)');
const all = db.prepare('SELECT text FROM notes ORDER BY id');

export default {
  async fetch(request) {
    const url = new URL(request.url);
    if (url.pathname.endsWith('/version')) {
      return new Response(db.prepare('SELECT sqlite_version() AS v').get().v);
    }
    if (request.method === 'POST') {
      insert.run(await request.text());
      const notes = all.all().map((row) => row.text);
      return Response.json({ count: notes.length, notes }, { status: 201 });
    }
    return Response.json(all.all());
  },
};
