/** Alerts that reach people: model (pure), state in KMS, sinks, and the notifier the engine calls. */
export * from './model.js';
export * from './notifier.js';
export * from './sinks.js';
export * from './state.js';
