import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import protobuf from 'protobufjs';
import { CRI_PROTO } from './cri-proto.ts';

// A small promise-based client for containerd's CRI endpoint over its Unix socket.

type Unary = (request: object, metadata: grpc.Metadata, options: grpc.CallOptions, callback: (error: grpc.ServiceError | null, response: unknown) => void) => void;

/** One generated client class per proto text: parsing it again for every connection would be wasted work. */
const runtimeServices = new Map<string, grpc.ServiceClientConstructor>();

function runtimeService(proto: string): grpc.ServiceClientConstructor {
  let service = runtimeServices.get(proto);
  if (!service) {
    const root = protobuf.parse(proto, { keepCase: true }).root;
    const definition = protoLoader.fromJSON(root.toJSON(), { keepCase: true, longs: Number, enums: String, defaults: true });
    const loaded = grpc.loadPackageDefinition(definition) as unknown as { runtime: { v1: { RuntimeService: grpc.ServiceClientConstructor } } };
    service = loaded.runtime.v1.RuntimeService;
    runtimeServices.set(proto, service);
  }
  return service;
}

export interface CriVersion {
  runtime_name: string;
  runtime_version: string;
  runtime_api_version: string;
}

export interface CriStatus {
  status: { conditions: Array<{ type: string; status: boolean; reason: string; message: string }> };
  info: Record<string, string>;
}

export class CriClient {
  private readonly client: grpc.Client;
  readonly socketPath: string;

  /** `proto` is the CRI subset to speak: the installer's own unless a test extends it (cri-proto.ts). */
  constructor(socketPath: string, proto: string = CRI_PROTO) {
    this.socketPath = socketPath;
    const Service = runtimeService(proto);
    this.client = new Service(`unix://${socketPath}`, grpc.credentials.createInsecure(), {
      'grpc.max_receive_message_length': 16 * 1024 * 1024,
    });
  }

  call<T>(method: string, request: object, timeoutMs = 10_000): Promise<T> {
    const fn = (this.client as unknown as Record<string, Unary>)[method];
    if (!fn) throw new Error(`CRI method ${method} is not in shimkeeper's CRI subset`);
    return new Promise((resolve, reject) => {
      fn.call(this.client, request, new grpc.Metadata(), { deadline: Date.now() + timeoutMs }, (error, response) => {
        if (error) reject(new Error(`CRI ${method} on ${this.socketPath}: ${error.details || error.message}`, { cause: error }));
        else resolve(response as T);
      });
    });
  }

  version(timeoutMs?: number): Promise<CriVersion> {
    return this.call('Version', { version: 'v1' }, timeoutMs);
  }

  status(timeoutMs?: number): Promise<CriStatus> {
    return this.call('Status', { verbose: true }, timeoutMs);
  }

  close(): void {
    this.client.close();
  }
}
