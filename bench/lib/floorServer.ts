/**
 * The gRPC floor: a grpc-js server of the agent's own service definition
 * whose GetCheckpoint answers NOT_FOUND and ListCheckpoints an empty list at
 * once, with no file system access and no logging. Run as its own process
 * (like the agent); prints "listening <address>" on stdout.
 *
 *   node floorServer.js unix:/path | 127.0.0.1:0
 */
import * as grpc from '@grpc/grpc-js';
import type { ProtoGrpcType } from '../../src/generated/agent';
import { loadAgentPackageDefinition } from '../../src/proto';

function main(): void {
  const target = process.argv[2];
  if (!target) throw new Error('usage: floorServer.js ADDRESS');
  const proto = grpc.loadPackageDefinition(loadAgentPackageDefinition()) as unknown as ProtoGrpcType;
  const server = new grpc.Server({ 'grpc.max_receive_message_length': 1 << 20 });
  const notImplemented: grpc.handleUnaryCall<unknown, unknown> = (_call, cb) =>
    cb({ code: grpc.status.UNIMPLEMENTED, details: 'floor server' });
  server.addService(proto.criu_agent.v1.CheckpointAgent.service, {
    Dump: notImplemented,
    PreDump: notImplemented,
    Restore: notImplemented,
    Continue: notImplemented,
    Check: notImplemented,
    DeleteCheckpoint: notImplemented,
    GetCheckpoint: (call: grpc.ServerUnaryCall<{ checkpoint_id: string }, unknown>, cb: grpc.sendUnaryData<unknown>) =>
      cb({ code: grpc.status.NOT_FOUND, details: `checkpoint ${call.request.checkpoint_id} does not exist` }),
    ListCheckpoints: (_call: grpc.ServerUnaryCall<unknown, unknown>, cb: grpc.sendUnaryData<unknown>) => cb(null, { checkpoints: [] }),
  });
  server.bindAsync(target, grpc.ServerCredentials.createInsecure(), (err, port) => {
    if (err) throw err;
    const address = target.startsWith('unix:') ? target : target.replace(/:0$/, `:${port}`);
    process.stdout.write(`listening ${address}\n`);
  });
  process.once('SIGTERM', () => server.forceShutdown());
}

main();
