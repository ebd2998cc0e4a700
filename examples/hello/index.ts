// The hello example: a Web-standard fetch handler. Try: curl -d 'world' http://127.0.0.1:8080/function/hello
export default {
  async fetch(request: Request): Promise<Response> {
    const name = (await request.text()) || new URL(request.url).searchParams.get('name') || 'world';
    return new Response(`Hello, ${name}!\n`, { headers: { 'content-type': 'text/plain; charset=utf-8' } });
  },
};
