/**
 * Minimal typings for @alicloud/fc2@2.6.x, which ships none (docs/fc-runtime.md §6.1). Only what this
 * project calls is declared; note the capital `accessKeyID`.
 */
declare module '@alicloud/fc2' {
  import type { IncomingHttpHeaders } from 'node:http';

  /** Constructor config of the FC 2.0 client (§6.1). */
  interface FcClientConfig {
    accessKeyID: string;
    accessKeySecret: string;
    /** Sent as x-fc-security-token only when accessKeyID starts with "STS". */
    securityToken?: string;
    region: string;
    secure?: boolean;
    internal?: boolean;
    /** Full URL override, e.g. http://127.0.0.1:4766. */
    endpoint?: string;
    /** Milliseconds; default 60000. */
    timeout?: number;
    headers?: Record<string, string>;
  }

  /** What every call resolves with (§6.2). */
  interface FcResponse<T = unknown> {
    headers: IncomingHttpHeaders;
    data: T;
  }

  /** The FC 2.0 (2016-08-15) client. */
  class FC {
    constructor(accountId: string, config: FcClientConfig);
    invokeFunction(
      serviceName: string,
      functionName: string,
      event: string | Buffer | null,
      headers?: Record<string, string>,
      qualifier?: string,
      opts?: { rawBuf?: boolean },
    ): Promise<FcResponse<string | Buffer | Record<string, unknown>>>;
    static getSignature(
      accessKeyID: string,
      accessKeySecret: string,
      method: string,
      path: string,
      headers: Record<string, string | number>,
      queries: Record<string, string | string[]> | null,
    ): string;
  }

  export = FC;
}
