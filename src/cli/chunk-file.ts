/**
 * The file format of `criu-agent export` and `import`: the CheckpointChunk
 * messages of the stream, each serialized (protobuf binary) and preceded by
 * its length as a protobuf varint, as protobuf's "delimited" writers do
 * (Java's writeDelimitedTo, protobufjs's encodeDelimited): any protobuf
 * library can read it with agent.proto.
 */
import { loadAgentPackageDefinition } from '../proto';
import type { MethodDefinition } from '@grpc/proto-loader';
import type { CheckpointChunk, CheckpointChunk__Output } from '../generated/criu_agent/v1/CheckpointChunk';

const SERVICE = 'criu_agent.v1.CheckpointAgent';
/** Larger than any chunk the agent sends (512 KiB of data and a manifest): a larger length means a damaged file. */
const MAX_FRAME = 64 * 1024 * 1024;

function methods(): { exp: MethodDefinition<object, CheckpointChunk>; imp: MethodDefinition<CheckpointChunk__Output, object> } {
  const svc = loadAgentPackageDefinition()[SERVICE] as unknown as Record<string, MethodDefinition<never, never>>;
  return {
    exp: svc.ExportCheckpoint as unknown as MethodDefinition<object, CheckpointChunk>,
    imp: svc.ImportCheckpoint as unknown as MethodDefinition<CheckpointChunk__Output, object>,
  };
}

/** One chunk as it goes into the file: varint length, then the message. */
export function encodeFrame(chunk: CheckpointChunk): Buffer {
  const body = methods().exp.responseSerialize(chunk);
  const len: number[] = [];
  let n = body.length;
  while (n > 0x7f) {
    len.push((n & 0x7f) | 0x80);
    n >>>= 7;
  }
  len.push(n);
  return Buffer.concat([Buffer.from(len), body]);
}

/** The chunks of a file (or stdin) in that format. An Error for a truncated or damaged file. */
export async function* decodeFrames(source: AsyncIterable<Buffer | string>): AsyncGenerator<CheckpointChunk__Output> {
  const { imp } = methods();
  let buf: Buffer = Buffer.alloc(0);
  for await (const piece of source) {
    buf = buf.length ? Buffer.concat([buf, Buffer.from(piece)]) : Buffer.from(piece);
    for (;;) {
      let len = 0;
      let shift = 0;
      let i = 0;
      for (; i < buf.length && i < 5; i++) {
        const b = buf[i] as number;
        len += (b & 0x7f) * 2 ** shift;
        shift += 7;
        if ((b & 0x80) === 0) break;
      }
      if (i >= buf.length) break; // the length is not complete yet
      if (i >= 5 || len > MAX_FRAME) throw new Error('not a checkpoint stream file (a chunk length is out of range)');
      if (buf.length < i + 1 + len) break;
      yield imp.requestDeserialize(buf.subarray(i + 1, i + 1 + len));
      buf = buf.subarray(i + 1 + len);
    }
  }
  if (buf.length) throw new Error(`the checkpoint stream file ends in the middle of a chunk (${buf.length} bytes left over)`);
}
