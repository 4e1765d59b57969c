// A STAND-IN for supabase/edge-runtime, so volumes/functions/main/index.ts runs for real under the
// Deno from npm (@deno/linux-x64-glibc): the edge runtime itself cannot run here. It gives the
// main service the one API it uses, EdgeRuntime.userWorkers.create({servicePath, envVars, ...}),
// with the isolation the real runtime gives a user worker (v1.70.3): its env is only its envVars
// (ext/env/lib.rs) and it reads no file outside its own service path (StaticFs,
// crates/base/src/runtime/mod.rs). Here each worker is a Deno process started with a cleared
// environment holding only envVars (what Deno itself adds, PATH and its npm shim flag, removed) and --allow-read of its service path, kept per service path
// as the runtime's pool does (crates/base/src/worker/pool.rs). Not shipped: tests only.
// An app's function imports its packages (`npm:@supabase/supabase-js`, `jsr:@supabase/...`), which the
// real runtime downloads; this machine reaches no JSR and the tests run offline, so with
// STANDIN_IMPORT_MAP set a worker resolves them from the pinned packages in .tools/npm instead: npm:
// from a node_modules beside the served folders (Deno's --node-modules-dir=manual, looked up from the
// importing file), and the jsr: names that are the same packages on JSR through that import map.
//   deno run -A runtime.ts <main/index.ts>   (env: MAIN_PORT, DENO_BIN, STANDIN_IMPORT_MAP, and the main's own)

const DENO = Deno.env.get('DENO_BIN')!
const HOST = new URL('./worker_host.ts', import.meta.url).pathname
const workers = new Map<string, Promise<number>>()
const children: Deno.ChildProcess[] = []

async function start(servicePath: string, envVars: [string, string][]): Promise<number> {
  const importMap = Deno.env.get('STANDIN_IMPORT_MAP')
  const offline = importMap ? ['--cached-only', '--node-modules-dir=manual', `--import-map=${importMap}`] : []
  const child = new Deno.Command(DENO, {
    args: ['run', '--quiet', '--no-prompt', ...offline, '--allow-net=127.0.0.1', '--allow-env',
      `--allow-read=${servicePath}`, HOST, servicePath],
    clearEnv: true,
    env: { ...Object.fromEntries(envVars), DENO_DIR: Deno.env.get('DENO_DIR') ?? '/tmp/deno-dir',
      STANDIN_CLEAR: 'DENO_DIR,PATH,DENO_NODE_SHIM_ACTIVE' },
    stdout: 'piped', stderr: 'inherit',
  }).spawn()
  children.push(child)
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader()
  let text = ''
  while (!text.includes('\n')) {
    const { value, done } = await reader.read()
    if (done) throw new Error(`worker for ${servicePath} did not start`)
    text += value
  }
  return JSON.parse(text.split('\n')[0]).port
}

class UserWorker {
  constructor(private port: number) {}
  async fetch(req: Request): Promise<Response> {
    const url = new URL(req.url)
    const body = ['GET', 'HEAD'].includes(req.method) ? undefined : await req.arrayBuffer()
    return await fetch(`http://127.0.0.1:${this.port}${url.pathname}${url.search}`,
      { method: req.method, headers: req.headers, body })
  }
}

;(globalThis as any).EdgeRuntime = {
  userWorkers: {
    async create(opts: { servicePath: string; envVars: [string, string][] }) {
      if (!workers.has(opts.servicePath)) workers.set(opts.servicePath, start(opts.servicePath, opts.envVars))
      return new UserWorker(await workers.get(opts.servicePath)!)
    },
  },
}

const serve = Deno.serve
;(Deno as any).serve = (handler: (r: Request) => Promise<Response>) =>
  serve({ hostname: '127.0.0.1', port: Number(Deno.env.get('MAIN_PORT')), onListen: () => console.log('listening') },
    handler)
Deno.addSignalListener('SIGTERM', () => {
  for (const c of children) try { c.kill() } catch { /* gone */ }
  Deno.exit(0)
})
await import(new URL(Deno.args[0], `file://${Deno.cwd()}/`).href)
