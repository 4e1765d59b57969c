// One user worker of the stand-in runtime (runtime.ts): loads the function at Deno.args[0]
// (index.ts), takes the handler it gives Deno.serve, serves it on a free loopback port, prints it.
const servicePath = Deno.args[0]
let handler: ((r: Request) => Response | Promise<Response>) | undefined
const serve = Deno.serve
;(Deno as any).serve = (a: any, b: any) => {
  handler = typeof a === 'function' ? a : typeof b === 'function' ? b : a.handler
  return { finished: new Promise(() => {}), shutdown: async () => {}, ref() {}, unref() {} }
}
for (const name of (Deno.env.get('STANDIN_CLEAR') ?? '').split(',')) if (name) Deno.env.delete(name)
Deno.env.delete('STANDIN_CLEAR')
await import(`file://${servicePath}/index.ts`)
serve({ hostname: '127.0.0.1', port: 0, onListen: ({ port }) => console.log(JSON.stringify({ port })) },
  (req) => handler!(req))
