// Fetch wrapper: same-origin cookie session, the CSRF header on every write, problem+json turned into ApiError.
export class ApiError extends Error {
  constructor(status, problem) {
    super(problem?.detail || problem?.title || `HTTP ${status}`);
    this.status = status;
    this.code = problem?.code || null;
    this.problem = problem;
  }
}

/** Thrown when the server could not be reached at all (offline, DNS, connection refused). */
export class NetworkError extends Error {}

export async function api(method, path, body) {
  const headers = { Accept: 'application/json' };
  if (method !== 'GET' && method !== 'HEAD') headers['X-CSRF'] = '1';
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  let response;
  try {
    response = await fetch(path, {
      method,
      headers,
      credentials: 'same-origin',
      cache: 'no-store',
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (error) {
    throw new NetworkError(error.message);
  }
  if (response.status === 204) return null;
  const type = response.headers.get('content-type') || '';
  const data = type.includes('json') ? await response.json().catch(() => null) : null;
  if (!response.ok) {
    if (response.status === 401 && path !== '/api/auth/login') window.dispatchEvent(new CustomEvent('fahrtenbuch:unauthenticated'));
    throw new ApiError(response.status, data);
  }
  return data;
}

export const get = (path) => api('GET', path);
export const post = (path, body) => api('POST', path, body ?? {});
export const patch = (path, body) => api('PATCH', path, body);

/** All pages of a paged list. */
export async function getAll(path, pageSize = 500) {
  const items = [];
  for (let page = 1; ; page++) {
    const sep = path.includes('?') ? '&' : '?';
    const result = await get(`${path}${sep}page=${page}&pageSize=${pageSize}`);
    items.push(...result.items);
    if (items.length >= result.total || result.items.length === 0) return items;
  }
}

/**
 * A GET whose body is read as it arrives (large exports): onResponse gets the headers before the first byte,
 * onChunk each piece. A problem+json answer becomes ApiError, a lost connection (also mid-body) NetworkError;
 * an abort through `signal` stays an AbortError. Resolves with the whole body as a Blob and the headers.
 */
export async function download(path, { signal, onResponse, onChunk } = {}) {
  const lost = (error) => (error?.name === 'AbortError' ? error : new NetworkError(error?.message || 'network'));
  let response;
  try {
    response = await fetch(path, { credentials: 'same-origin', cache: 'no-store', signal });
  } catch (error) {
    throw lost(error);
  }
  if (!response.ok) {
    const type = response.headers.get('content-type') || '';
    const data = type.includes('json') ? await response.json().catch(() => null) : null;
    if (response.status === 401) window.dispatchEvent(new CustomEvent('fahrtenbuch:unauthenticated'));
    throw new ApiError(response.status, data);
  }
  onResponse?.(response.headers);
  const chunks = [];
  const reader = response.body.getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      chunks.push(value);
      onChunk?.(value);
    }
  } catch (error) {
    throw lost(error);
  }
  return { headers: response.headers, blob: new Blob(chunks, { type: response.headers.get('content-type') || 'application/octet-stream' }) };
}

/** The file name a Content-Disposition header gives: the UTF-8 `filename*` first, else the plain `filename`. */
export function fileNameFrom(disposition, fallback) {
  const star = /filename\*\s*=\s*utf-8''([^;]+)/i.exec(disposition || '');
  if (star) {
    try {
      return decodeURIComponent(star[1].trim());
    } catch {
      // A malformed escape: fall back to the plain name.
    }
  }
  const plain = /filename\s*=\s*"?([^";]+)"?/i.exec(disposition || '');
  return plain ? plain[1].trim() : fallback;
}
