// The console's calls to `youma serve`: same origin, JSON, the session in an
// HttpOnly cookie the script never sees. Paths are relative to the page
// (/console/), so `api('api/me')` reads /console/api/me.
//
// Errors come back as {"error": {"code", "message"}} with an HTTP status;
// they are thrown as ApiError so each view can show the message.

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

// A query string without the empty fields: the server treats a present but
// empty `from=` as a malformed date.
export function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params || {})) {
    if (v != null && String(v).trim() !== '') q.set(k, String(v).trim());
  }
  const s = q.toString();
  return s ? `?${s}` : '';
}

export async function api(path, { method = 'GET', body, params } = {}) {
  let res;
  try {
    res = await fetch(path + query(params), {
      method,
      credentials: 'same-origin',
      cache: 'no-store',
      headers: body === undefined ? { Accept: 'application/json' }
                                  : { Accept: 'application/json', 'Content-Type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (e) {
    throw new ApiError(0, 'UNAVAILABLE', e.message || 'network error');
  }
  if (res.status === 204) return null;
  const text = await res.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = null;
  }
  if (!res.ok) {
    const err = data && data.error;
    throw new ApiError(res.status, (err && err.code) || `HTTP_${res.status}`,
                       (err && err.message) || text.slice(0, 200) || res.statusText || `HTTP ${res.status}`);
  }
  if (data === null || typeof data !== 'object') {
    throw new ApiError(res.status, 'BAD_RESPONSE', `${path}: the server's answer is not JSON`);
  }
  return data;
}
