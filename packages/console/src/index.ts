/**
 * The household web console: a few static files (plain ES modules, HTML, CSS; no framework, no CDN) that
 * Familiar serves on the dialogue service's own port, so the page talks to the WebSocket service same-origin
 * with the same tokens and roles. Pass `createConsoleHandler({ wsPath: config.server.path })` as the
 * `httpHandler` of `startDialogueServer`.
 */
export { createConsoleHandler, CONSOLE_CSP, CONSOLE_PUBLIC_DIR } from './handler.ts';
