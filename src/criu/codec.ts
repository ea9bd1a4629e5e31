import type * as protobuf from 'protobufjs';
import { conversionOptions, loadCriuRoot } from '../proto';
import type { criu_req } from '../generated/criu/criu_req';
import type { criu_resp__Output } from '../generated/criu/criu_resp';

/** Encodes criu_req and decodes criu_resp with the schema in proto/criu/rpc.proto. */
export class CriuCodec {
  private readonly reqType: protobuf.Type;
  private readonly respType: protobuf.Type;

  constructor(root: protobuf.Root = loadCriuRoot()) {
    this.reqType = root.lookupType('criu.criu_req');
    this.respType = root.lookupType('criu.criu_resp');
  }

  encodeRequest(req: criu_req): Uint8Array {
    return this.reqType.encode(this.reqType.fromObject(req)).finish();
  }

  /** Throws when CRIU sent something that is not a criu_resp (e.g. required fields missing). */
  decodeResponse(buf: Uint8Array): criu_resp__Output {
    return this.respType.toObject(this.respType.decode(buf), conversionOptions) as criu_resp__Output;
  }

  /** Decoding of requests, for tests and fakes that play CRIU's side. */
  decodeRequest(buf: Uint8Array): criu_req {
    return this.reqType.toObject(this.reqType.decode(buf), conversionOptions);
  }

  encodeResponse(resp: Partial<criu_resp__Output>): Uint8Array {
    return this.respType.encode(this.respType.fromObject(resp)).finish();
  }
}
