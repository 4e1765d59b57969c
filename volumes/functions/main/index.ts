// The edge-runtime main service (features.functions): routes /<name>/... to the user function
// in /home/deno/functions/<name>, each in its own worker. Written for this project; the
// runtime API (EdgeRuntime.userWorkers.create) is the one supabase/supabase's
// docker/volumes/functions/main uses. With VERIFY_JWT=true a request needs a bearer JWT
// signed with the stack's JWT secret (HS256), checked here with Web Crypto.

const FUNCTIONS_ROOT = '/home/deno/functions'
const VERIFY_JWT = Deno.env.get('VERIFY_JWT') === 'true'
const JWT_SECRET = Deno.env.get('JWT_SECRET') ?? ''

function json(status: number, body: unknown): Response {
  return new Response(JSON.stringify(body), { status, headers: { 'Content-Type': 'application/json' } })
}

function base64url(text: string): Uint8Array {
  const b64 = text.replace(/-/g, '+').replace(/_/g, '/').padEnd(Math.ceil(text.length / 4) * 4, '=')
  return Uint8Array.from(atob(b64), (c) => c.charCodeAt(0))
}

async function validJwt(token: string): Promise<boolean> {
  const parts = token.split('.')
  if (parts.length !== 3 || !JWT_SECRET) return false
  const header = JSON.parse(new TextDecoder().decode(base64url(parts[0])))
  if (header.alg !== 'HS256') return false
  const key = await crypto.subtle.importKey(
    'raw', new TextEncoder().encode(JWT_SECRET), { name: 'HMAC', hash: 'SHA-256' }, false, ['verify'])
  const ok = await crypto.subtle.verify('HMAC', key, base64url(parts[2]),
    new TextEncoder().encode(`${parts[0]}.${parts[1]}`))
  const claims = JSON.parse(new TextDecoder().decode(base64url(parts[1])))
  return ok && (typeof claims.exp !== 'number' || claims.exp * 1000 > Date.now())
}

Deno.serve(async (req: Request) => {
  if (VERIFY_JWT && req.method !== 'OPTIONS') {
    const [scheme, token] = (req.headers.get('authorization') ?? '').split(' ')
    if (scheme !== 'Bearer' || !token || !(await validJwt(token).catch(() => false))) {
      return json(401, { msg: 'Invalid JWT' })
    }
  }
  const name = new URL(req.url).pathname.split('/')[1]
  if (!name || !/^[A-Za-z0-9_-]+$/.test(name)) {
    return json(400, { msg: 'missing or invalid function name in request' })
  }
  try {
    const env = Deno.env.toObject()
    const worker = await EdgeRuntime.userWorkers.create({
      servicePath: `${FUNCTIONS_ROOT}/${name}`,
      memoryLimitMb: 150,
      workerTimeoutMs: 60 * 1000,
      noModuleCache: false,
      importMapPath: null,
      envVars: Object.entries(env),
    })
    return await worker.fetch(req)
  } catch (e) {
    return json(500, { msg: String(e) })
  }
})
