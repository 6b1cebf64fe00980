/**
 * The credential object the SDK clients are handed (`config.credential`), built from the access key
 * the product already holds (FC's role credentials, or what the CLI resolved).
 *
 * Why not `new Credential(...)` from `@alicloud/credentials`: given an access key, both SDK clients
 * (`@alicloud/rpc-client` under `@alicloud/kms20160120`, and `@alicloud/openapi-client`) construct
 * one themselves, which loads the whole package (every provider: ECS metadata, OIDC, URI, profile
 * files, ini), about 120 KiB of code and 8 ms of every function's cold start, for a static key.
 * Handed a `credential`, neither client touches the package (verified in rpc-client 1.x and
 * openapi-client 0.4.15 `constructor`: `accessKeyId` set -> `new Credential(config)`, else
 * `config.credential` is used as is), and the function bundles load it only if something else
 * does (scripts/build.ts keeps it in a side file that is required on first use).
 *
 * The shape is the package's own `ICredential` (dist/src/icredential.d.ts) and the values are
 * those its static providers give: type `access_key` / `sts`, provider name `static_ak` /
 * `static_sts` (dist/src/providers/static_ak.js, static_sts.js), so the requests are the same
 * byte for byte; test/unit/kms/static-credential.test.ts compares the two.
 */
import type { KmsCredentials } from './alicloud-adapter.js';

/** What `getCredential()` answers: the fields of the package's CredentialModel that the clients read. */
export interface StaticCredentialModel {
  accessKeyId: string;
  accessKeySecret: string;
  securityToken: string | undefined;
  bearerToken: undefined;
  type: 'access_key' | 'sts';
  providerName: 'static_ak' | 'static_sts';
}

/** The package's `ICredential` over one fixed access key (with its STS token when there is one). */
export class StaticCredential {
  readonly #model: StaticCredentialModel;

  constructor(c: KmsCredentials) {
    const sts = c.securityToken !== undefined && c.securityToken !== '';
    this.#model = {
      accessKeyId: c.accessKeyId,
      accessKeySecret: c.accessKeySecret,
      securityToken: sts ? c.securityToken : undefined,
      bearerToken: undefined,
      type: sts ? 'sts' : 'access_key',
      providerName: sts ? 'static_sts' : 'static_ak',
    };
  }

  async getAccessKeyId(): Promise<string> {
    return this.#model.accessKeyId;
  }

  async getAccessKeySecret(): Promise<string> {
    return this.#model.accessKeySecret;
  }

  async getSecurityToken(): Promise<string> {
    // The package answers undefined for a plain access key too (its typing says string).
    return this.#model.securityToken as string;
  }

  getBearerToken(): string {
    return undefined as unknown as string;
  }

  getType(): string {
    return this.#model.type;
  }

  async getCredential(): Promise<StaticCredentialModel> {
    return { ...this.#model };
  }

  /** Never the secret: this object may end up in an error's details or a debugger. */
  toJSON(): { type: string; accessKeyId: string } {
    return { type: this.#model.type, accessKeyId: this.#model.accessKeyId };
  }
}

/** `config.credential` for either SDK client (their typing names the package's class, not its interface). */
export function sdkCredential<T>(c: KmsCredentials): T {
  return new StaticCredential(c) as unknown as T;
}

/**
 * An SDK client's config as a plain object, not `new Config(...)`: a tea Model's constructor
 * evaluates the class's field types, and the type of `credential` is the @alicloud/credentials
 * class, so building the model loads the whole package after all. The clients' constructors only
 * read the fields (openapi-client 0.4.15 and rpc-client 1.x `constructor`: verified), and test/e2e
 * runs each bundle without its side files (scripts/lazy-packages.ts), so a load would fail there.
 */
export function plainConfig<T>(fields: {
  /** What sdkCredential returns. */
  credential: unknown;
  endpoint: string;
  protocol: string;
  regionId: string;
  readTimeout?: number;
  connectTimeout?: number;
}): T {
  return { ...fields } as unknown as T;
}
