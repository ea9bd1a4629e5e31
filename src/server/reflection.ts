import type * as grpc from '@grpc/grpc-js';
import type * as protoLoader from '@grpc/proto-loader';
import { ReflectionService } from '@grpc/reflection';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as protobuf from 'protobufjs';
import { protoDir } from '../paths';

/**
 * The descriptors server reflection serves: a FileDescriptorSet compiled by
 * buf from proto/criu_agent and grpc-health-check's health proto, with
 * source info (the comments `grpcurl describe` prints). `npm run gen:types`
 * writes it, `npm run check:types` (in `npm test`) fails when it is stale.
 */
export const DESCRIPTOR_SET = path.join(protoDir, 'reflection.binpb');

const FILE_FIELD_TAG = (1 << 3) | 2; // FileDescriptorSet.file = 1, length-delimited

/** The FileDescriptorProtos of a serialized FileDescriptorSet, each as the compiler wrote it. */
export function fileDescriptorProtos(set: Uint8Array): Buffer[] {
  const reader = protobuf.Reader.create(set);
  const files: Buffer[] = [];
  while (reader.pos < reader.len) {
    const tag = reader.uint32();
    if (tag === FILE_FIELD_TAG) files.push(Buffer.from(reader.bytes()));
    else reader.skipType(tag & 7);
  }
  return files;
}

/**
 * Adds server reflection (grpc.reflection.v1 and v1alpha) serving the
 * compiled descriptors, so that grpcurl, grpcui, evans and buf curl describe
 * and call the agent with no .proto files.
 *
 * @grpc/reflection takes a proto-loader PackageDefinition and reads only the
 * `fileDescriptorProtos` of its entries, so the compiled files are handed to
 * it as one such entry. It indexes them with protobufjs's descriptor types
 * and serves them re-encoded; for these files that is byte for byte what buf
 * wrote (test/integration/reflection.test.ts checks it), but protobufjs's
 * descriptor.proto predates proto3 `optional` (proto3_optional) and editions:
 * a .proto using either would be served without them.
 */
export function addReflection(server: Pick<grpc.Server, 'addService'>, set: Uint8Array = fs.readFileSync(DESCRIPTOR_SET)): void {
  // Its format is of no consequence: reflection looks at the files only.
  const compiled: protoLoader.EnumTypeDefinition = {
    format: 'Protocol Buffer 3 EnumDescriptorProto',
    type: {},
    fileDescriptorProtos: fileDescriptorProtos(set),
  };
  new ReflectionService({ [DESCRIPTOR_SET]: compiled }).addToServer(server);
}
