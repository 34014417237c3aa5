/**
 * What may leave the process in an error: credentials never (URLs with user:password@, bearer tokens, api
 * keys), and to clients no absolute file paths (they tell a stranger where the store lives and who runs it;
 * the file's name is enough to act on).
 */

const URL_CREDENTIALS = /\b([a-z][a-z0-9+.-]*:\/\/)[^\s/@]+@/gi;
const BEARER = /\b(bearer)\s+[A-Za-z0-9._~+/=-]{8,}/gi;
const KEY_PARAM = /\b((?:api[_-]?key|access[_-]?token|token|password|secret)=)[^\s&"']+/gi;

/** `text` with credentials in URLs, bearer headers and key=value parameters replaced by "***". */
export function redactCredentials(text: string): string {
  return text.replace(URL_CREDENTIALS, '$1***@').replace(BEARER, '$1 ***').replace(KEY_PARAM, '$1***');
}

/** An absolute POSIX path of two or more segments (not part of a URL): kept as its last segment. */
const ABSOLUTE_PATH = /(^|[\s"'(=:,])\/(?:[^\s/"'(),:]+\/)+([^\s/"'(),:]*)/g;

/** A message as a client may see it: no credentials, and absolute paths cut to their file names. */
export function clientSafeMessage(text: string): string {
  return redactCredentials(text).replace(ABSOLUTE_PATH, (_m, before: string, last: string) => `${before}${last || '…'}`);
}
