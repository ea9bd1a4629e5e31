import * as protoLoader from '@grpc/proto-loader';
import * as protobuf from 'protobufjs';
import { protoDir } from './paths';
import rawOptions from './proto-options.json';

/**
 * The loader options shared by scripts/gen-types.js and every loadSync here,
 * so that src/generated describes exactly the objects the agent handles.
 */
export const loaderOptions: protoLoader.Options = {
  ...rawOptions,
  longs: String,
  enums: String,
  includeDirs: [protoDir],
};

/** protobufjs's toObject options equivalent to loaderOptions. */
export const conversionOptions: protobuf.IConversionOptions = {
  longs: String,
  enums: String,
  defaults: rawOptions.defaults,
  oneofs: rawOptions.oneofs,
};

export const AGENT_PROTO = 'criu_agent/v1/agent.proto';
export const CRIU_PROTO = 'criu/rpc.proto';

export function loadAgentPackageDefinition(): protoLoader.PackageDefinition {
  return protoLoader.loadSync(AGENT_PROTO, loaderOptions);
}

/** CRIU's RPC messages, for encoding and decoding on the CRIU socket. */
export function loadCriuRoot(): protobuf.Root {
  const root = new protobuf.Root();
  root.resolvePath = (_origin, target) => (target.startsWith('/') ? target : `${protoDir}/${target}`);
  root.loadSync([CRIU_PROTO, 'criu/stats.proto'], { keepCase: rawOptions.keepCase });
  return root;
}
