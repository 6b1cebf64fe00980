/**
 * Webhook intake, platform-neutral: authentication, payload parsing into intents, delivery
 * de-duplication, the webhook secrets, and the intake flow the webhook function adapts to HTTP.
 */
export * from './auth.js';
export * from './dedupe.js';
export * from './intake.js';
export * from './payloads.js';
export * from './secrets.js';
