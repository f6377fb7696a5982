// Calls to the /v1 API with the signed-in token. Answers are kept per URL with
// their ETag, so a poll sends If-None-Match and a 304 reuses the copy in hand.

const TOKEN_KEY = "gridfix.dashboard.token";

export class AuthError extends Error {}

export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

export function getToken() {
  return sessionStorage.getItem(TOKEN_KEY);
}

export function setToken(token) {
  sessionStorage.setItem(TOKEN_KEY, token);
}

export function clearToken() {
  sessionStorage.removeItem(TOKEN_KEY);
  copies.clear();
}

const copies = new Map(); // url -> { etag, body }

async function problemText(response, fallback) {
  try {
    const body = await response.json();
    return body.detail || body.title || fallback;
  } catch {
    return fallback;
  }
}

export async function getJSON(url) {
  const token = getToken();
  if (!token) throw new AuthError("Please sign in.");
  const headers = { Authorization: `Bearer ${token}`, Accept: "application/json" };
  const copy = copies.get(url);
  if (copy) headers["If-None-Match"] = copy.etag;
  // no-store: we revalidate ourselves, and the browser then hands 304s to us.
  const response = await fetch(url, { headers, cache: "no-store" });
  if (response.status === 304 && copy) return copy.body;
  if (response.status === 401) {
    throw new AuthError(await problemText(response, "The token was refused."));
  }
  if (response.status === 403) {
    throw new AuthError(
      await problemText(response, "This token may not read statistics; use a viewer token."),
    );
  }
  if (!response.ok) {
    throw new ApiError(response.status, await problemText(response, `HTTP ${response.status}`));
  }
  const body = await response.json();
  const etag = response.headers.get("ETag");
  if (etag) copies.set(url, { etag, body });
  return body;
}
