// Talking to the host: the session cookie goes with every request (same origin), and
// every write carries the CSRF token the session handed out.

let csrfToken = null;

export class ApiError extends Error {
  constructor(status, message, field = null) {
    super(message);
    this.status = status;
    this.field = field; // the request field that was wrong, when the API names one
  }
}

// The API answers errors as {"error", "detail", "field"}; the seed's routes as {"success", "message"}.
function messageOf(body, status) {
  if (body && typeof body === "object") {
    if (body.error) return body.detail ? `${body.error}. ${body.detail}` : body.error;
    if (body.message) return body.message;
  }
  return `the host answered ${status}`;
}

// `body` is sent as JSON, or as multipart when it is a FormData (file uploads).
export async function request(method, path, body) {
  const headers = { Accept: "application/json" };
  if (method !== "GET" && csrfToken) headers["X-CSRF-Token"] = csrfToken;
  const multipart = body instanceof FormData;
  if (body !== undefined && !multipart) headers["Content-Type"] = "application/json";
  let response;
  try {
    response = await fetch(path, {
      method,
      headers,
      credentials: "same-origin",
      body: body === undefined || multipart ? body : JSON.stringify(body),
    });
  } catch {
    throw new ApiError(0, "the host cannot be reached; check that algovisor serve is running");
  }
  const text = await response.text();
  let parsed = null;
  try {
    parsed = text ? JSON.parse(text) : null;
  } catch {
    parsed = null;
  }
  if (!response.ok) {
    const field = parsed && typeof parsed === "object" ? parsed.field || null : null;
    throw new ApiError(response.status, messageOf(parsed, response.status), field);
  }
  return parsed;
}

// The current session, or null when nobody is logged in.
export async function loadSession() {
  try {
    const session = await request("GET", "/api/ui/session");
    csrfToken = session.csrf_token;
    return session;
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) return null;
    throw error;
  }
}

export async function login(username, password) {
  const session = await request("POST", "/api/ui/login", { username, password });
  csrfToken = session.csrf_token;
  return session;
}

export async function logout() {
  await request("POST", "/api/ui/logout");
  csrfToken = null;
}
