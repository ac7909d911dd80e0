/** An HTTP error answered in OpenAI's shape: status, message, type, param, code (the cause goes to onError, not the client). */
export class RequestError extends Error {
  constructor(
    readonly status: 400 | 401 | 404 | 408 | 413 | 429 | 500 | 503,
    message: string,
    readonly type = "invalid_request_error",
    readonly param: string | null = null,
    readonly code: string | null = null,
    cause?: unknown,
  ) {
    super(message, cause === undefined ? undefined : { cause });
  }
}
