// The edge-runtime main service (features.functions). Written for this project; the runtime API
// (EdgeRuntime.userWorkers.create, one worker per service path) is the one supabase/supabase's
// docker/volumes/functions/main/index.ts uses (supabase/edge-runtime v1.70.3 ext/workers/user_workers.js).
//
// Two kinds of request:
// - with X-Functions-Project: <p> (forced by the gateway on <project URL>/functions/v1/, never
//   taken from a client): project p's function, from its folder in the functions-projects
//   volume, with p's manifest (components/core/functions_env.py): its token verified with p's
//   keys only when the function verifies JWTs, its env only. The header only picks the
//   project, as the URL does; nothing else is trusted from the gateway.
// - without it (the stack's /functions/v1/): the stack's functions in /home/deno/functions, as
//   before (VERIFY_JWT with the stack's HS256 secret), minus the projects' key in their env.
// A user worker sees only its envVars (ext/env/lib.rs reads the worker's own EnvVars) and its
// own bundled files (crates/base/src/runtime/mod.rs: StaticFs for user workers).

const FUNCTIONS_ROOT = '/home/deno/functions'
const PROJECTS_ROOT = Deno.env.get('FUNCTIONS_PROJECTS_ROOT') ?? '/home/deno/functions-projects'
const PROJECTS_KEY = Deno.env.get('FUNCTIONS_PROJECTS_KEY') ?? ''
const VERIFY_JWT = Deno.env.get('VERIFY_JWT') === 'true'
const JWT_SECRET = Deno.env.get('JWT_SECRET') ?? ''
const PROJECT = /^[a-z][a-z0-9_]{0,39}$/
const FUNCTION = /^[A-Za-z][A-Za-z0-9_-]{0,63}$/
const enc = new TextEncoder()
const dec = new TextDecoder()

function json(status: number, body: unknown): Response {
  return new Response(JSON.stringify(body), { status, headers: { 'Content-Type': 'application/json' } })
}

function fromB64url(text: string): Uint8Array {
  const b64 = text.replace(/-/g, '+').replace(/_/g, '/').padEnd(Math.ceil(text.length / 4) * 4, '=')
  return Uint8Array.from(atob(b64), (c) => c.charCodeAt(0))
}

function hex(bytes: ArrayBuffer): string {
  return [...new Uint8Array(bytes)].map((b) => b.toString(16).padStart(2, '0')).join('')
}

// HKDF-SHA256 with no salt, 32 bytes: components/core/functions_env.py _hkdf.
async function hkdf(ikm: Uint8Array, info: string): Promise<Uint8Array> {
  const key = await crypto.subtle.importKey('raw', ikm, 'HKDF', false, ['deriveBits'])
  const bits = await crypto.subtle.deriveBits(
    { name: 'HKDF', hash: 'SHA-256', salt: new Uint8Array(0), info: enc.encode(info) }, key, 256)
  return new Uint8Array(bits)
}

const master = PROJECTS_KEY ? fromB64url(PROJECTS_KEY) : null

async function projectFolder(project: string): Promise<string> {
  const key = await crypto.subtle.importKey('raw', await hkdf(master!, 'folder'), { name: 'HMAC', hash: 'SHA-256' },
    false, ['sign'])
  return `${project}-${hex(await crypto.subtle.sign('HMAC', key, enc.encode(project))).slice(0, 32)}`
}

type Key = { kid: string; jwk: JsonWebKey; roles: string[] }
type Manifest = {
  project: string
  functions: string[]
  verifyJwt: Record<string, boolean>
  keys: Key[]
  apiKeys: Record<string, string>
  secretKeys: string[]
  env: Record<string, string>
}
const manifests = new Map<string, Manifest>() // version folder -> its manifest

async function openManifest(project: string, version: string): Promise<Manifest> {
  const cached = manifests.get(version)
  if (cached) return cached
  const sealed = JSON.parse(await Deno.readTextFile(`${version}/env.enc`))
  const key = await crypto.subtle.importKey('raw', await hkdf(master!, `env:${project}`), 'AES-GCM', false, ['decrypt'])
  const plain = await crypto.subtle.decrypt(
    { name: 'AES-GCM', iv: fromB64url(sealed.nonce), additionalData: enc.encode(project) }, key,
    fromB64url(sealed.sealed))
  const found = JSON.parse(dec.decode(plain)) as Manifest
  if (found.project !== project) throw new Error('manifest of another project')
  manifests.set(version, found)
  return found
}

function part(text: string): any {
  return JSON.parse(dec.decode(fromB64url(text)))
}

// ES256 only, signed by a key of this project, a role that key may carry, not expired.
async function verifiedProjectJwt(token: string, m: Manifest): Promise<boolean> {
  const parts = token.split('.')
  if (parts.length !== 3) return false
  const header = part(parts[0])
  const claims = part(parts[1])
  const key = m.keys.find((k) => k.kid === header.kid)
  if (!key || header.alg !== 'ES256' || (claims.kid !== undefined && claims.kid !== header.kid)) return false
  if (typeof claims.role !== 'string' || !key.roles.includes(claims.role)) return false
  if (typeof claims.exp !== 'number' || claims.exp * 1000 <= Date.now()) return false
  const publicKey = await crypto.subtle.importKey('jwk', { ...key.jwk, ext: true },
    { name: 'ECDSA', namedCurve: 'P-256' }, false, ['verify'])
  return await crypto.subtle.verify({ name: 'ECDSA', hash: 'SHA-256' }, publicKey, fromB64url(parts[2]),
    enc.encode(`${parts[0]}.${parts[1]}`))
}

const DENIED = { code: 'UNAUTHORIZED', msg: 'this key or token does not belong to this project' }

// The request's credentials checked against project m; returns the request to hand on (opaque
// keys replaced by the JWTs they stand for, as the project's gateway routes do) or a refusal.
async function admitted(req: Request, m: Manifest, fn: string): Promise<Request | Response> {
  const headers = new Headers(req.headers)
  const browser = headers.has('origin')
  const apikey = headers.get('apikey')
  if (apikey !== null) {
    if (!(apikey in m.apiKeys)) return json(401, DENIED)
    if (browser && m.secretKeys.includes(apikey)) return json(401, { msg: 'secret API keys cannot be used in a browser' })
    headers.set('apikey', m.apiKeys[apikey])
  }
  let auth = headers.get('authorization')
  if (auth !== null) {
    const [scheme, token, extra] = auth.trim().split(/\s+/)
    if (!/^bearer$/i.test(scheme ?? '') || !token || extra !== undefined) return json(401, DENIED)
    if (token.startsWith('sb_')) {
      if (!(token in m.apiKeys)) return json(401, DENIED)
      if (browser && m.secretKeys.includes(token)) return json(401, { msg: 'secret API keys cannot be used in a browser' })
      auth = `Bearer ${m.apiKeys[token]}`
      headers.set('authorization', auth)
    }
  } else if (apikey !== null) {
    auth = `Bearer ${m.apiKeys[apikey]}`
    headers.set('authorization', auth)
  }
  if (m.verifyJwt[fn] !== false && req.method !== 'OPTIONS') {
    if (auth === null) return json(401, { code: 'UNAUTHORIZED_NO_AUTH_HEADER', msg: 'Missing authorization header' })
    const ok = await verifiedProjectJwt(auth.trim().split(/\s+/)[1], m).catch(() => false)
    if (!ok) return json(401, { code: 'UNAUTHORIZED_INVALID_JWT', msg: 'Invalid JWT' })
  }
  headers.delete('x-functions-project')
  return new Request(req, { headers })
}

async function serveProject(req: Request, project: string): Promise<Response> {
  if (!master || !PROJECT.test(project)) return json(404, { msg: 'no such project' })
  const name = new URL(req.url).pathname.split('/')[1] ?? ''
  let version: string
  try {
    version = await Deno.realPath(`${PROJECTS_ROOT}/${await projectFolder(project)}/current`)
  } catch {
    return json(404, { msg: 'this project has no functions' })
  }
  const m = await openManifest(project, version)
  if (!FUNCTION.test(name) || !m.functions.includes(name)) return json(404, { msg: `no function ${name}` })
  const admittedReq = await admitted(req, m, name)
  if (admittedReq instanceof Response) return admittedReq
  const worker = await EdgeRuntime.userWorkers.create({
    servicePath: `${version}/functions/${name}`, // a new deploy is a new path: new workers
    memoryLimitMb: 150,
    workerTimeoutMs: 60 * 1000,
    noModuleCache: false,
    importMapPath: null,
    envVars: Object.entries(m.env),
  })
  return await worker.fetch(admittedReq)
}

async function validStackJwt(token: string): Promise<boolean> {
  const parts = token.split('.')
  if (parts.length !== 3 || !JWT_SECRET || part(parts[0]).alg !== 'HS256') return false
  const key = await crypto.subtle.importKey('raw', enc.encode(JWT_SECRET), { name: 'HMAC', hash: 'SHA-256' }, false,
    ['verify'])
  const ok = await crypto.subtle.verify('HMAC', key, fromB64url(parts[2]), enc.encode(`${parts[0]}.${parts[1]}`))
  const claims = part(parts[1])
  return ok && (typeof claims.exp !== 'number' || claims.exp * 1000 > Date.now())
}

async function serveStack(req: Request): Promise<Response> {
  if (VERIFY_JWT && req.method !== 'OPTIONS') {
    const [scheme, token] = (req.headers.get('authorization') ?? '').split(' ')
    if (scheme !== 'Bearer' || !token || !(await validStackJwt(token).catch(() => false))) {
      return json(401, { msg: 'Invalid JWT' })
    }
  }
  const name = new URL(req.url).pathname.split('/')[1]
  if (!name || !FUNCTION.test(name)) return json(400, { msg: 'missing or invalid function name in request' })
  const env = Deno.env.toObject()
  delete env.FUNCTIONS_PROJECTS_KEY
  const worker = await EdgeRuntime.userWorkers.create({
    servicePath: `${FUNCTIONS_ROOT}/${name}`,
    memoryLimitMb: 150,
    workerTimeoutMs: 60 * 1000,
    noModuleCache: false,
    importMapPath: null,
    envVars: Object.entries(env),
  })
  return await worker.fetch(req)
}

Deno.serve(async (req: Request) => {
  try {
    const project = req.headers.get('x-functions-project')
    return project === null ? await serveStack(req) : await serveProject(req, project)
  } catch (e) {
    return json(500, { msg: String(e) })
  }
})
