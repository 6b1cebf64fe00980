/** Webhook intake, platform-neutral: authentication, payload parsing into intents, delivery de-duplication. */
export * from './auth.js';
export * from './dedupe.js';
export * from './payloads.js';
