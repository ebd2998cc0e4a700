// The async bench's baseline: a bare node:http server that writes each request to SQLite in its own
// transaction with synchronous = FULL (one fsync per request, no group commit), then answers 202.
// Prints `listening <url>` on stdout; stops on SIGTERM.
import { createServer } from 'node:http';
import Database from 'better-sqlite3';

const file = process.argv[2];
if (!file) {
  process.stderr.write('usage: fsync-server.mjs <sqlite file>\n');
  process.exit(2);
}
const db = new Database(file);
db.pragma('journal_mode = WAL');
db.pragma('synchronous = FULL');
db.exec('CREATE TABLE IF NOT EXISTS calls (id INTEGER PRIMARY KEY, body BLOB NOT NULL)');
const insert = db.prepare('INSERT INTO calls (body) VALUES (?)');

const server = createServer((req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    const { lastInsertRowid } = insert.run(Buffer.concat(chunks));
    res.writeHead(202, { 'x-call-id': String(lastInsertRowid) }).end();
  });
});
server.listen(0, '127.0.0.1', () => {
  process.stdout.write(`listening http://127.0.0.1:${server.address().port}\n`);
});
process.on('SIGTERM', () => {
  server.close();
  db.close();
  process.exit(0);
});
