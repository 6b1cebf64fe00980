/**
 * Function Compute 3.0 shapes (docs/fc-runtime.md §2-§4): the handler's `context`, the timer
 * event, the HTTP trigger event and response. Only the fields we use are typed.
 */

/** `context` of a FC 3.0 Node.js handler (§2.3). */
export interface FcContext {
  requestId: string;
  credentials: { accessKeyId: string; accessKeySecret: string; securityToken?: string };
  function: { name: string; handler?: string; memory?: number; timeout: number };
  region?: string;
  accountId?: string;
  service?: { logProject?: string; logStore?: string; qualifier?: string; versionId?: string };
}

/** Timer trigger event (§3.1). */
export interface TimerEvent {
  triggerTime: string;
  triggerName: string;
  payload: string;
}

/** HTTP trigger event (§2.5); header names may come in any case. */
export interface HttpTriggerEvent {
  version?: string;
  rawPath: string;
  body?: string;
  isBase64Encoded?: boolean;
  headers: Record<string, string>;
  queryParameters: Record<string, string>;
  requestContext?: { requestId?: string; http?: { method?: string; path?: string; sourceIp?: string } };
}

/** HTTP trigger response (§2.5). */
export interface HttpResponse {
  statusCode: number;
  headers: Record<string, string>;
  body: string;
  isBase64Encoded: false;
}
