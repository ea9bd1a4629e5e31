#!/usr/bin/env node
// Validates every object in deploy/kubernetes/*.yaml against the Kubernetes
// API's JSON schemas (npm kubernetes-models: the OpenAPI schemas of the
// Kubernetes release it names, compiled with ajv), as kubeconform would:
// types, enums, required fields and formats. Prints one line per object; exits
// 1 when one is invalid or of a kind the schemas do not know.
// Run by test/unit/deploy.test.ts (kubernetes-models is ESM-only, which jest's
// CommonJS mode cannot import, so the test runs this in a child process).
'use strict';
const fs = require('node:fs');
const path = require('node:path');
const YAML = require('yaml');

const root = path.resolve(__dirname, '..');
const dir = path.join(root, 'deploy', 'kubernetes');

async function main() {
  const files = process.argv.slice(2).length
    ? process.argv.slice(2)
    : fs
        .readdirSync(dir)
        .filter((f) => /\.ya?ml$/.test(f))
        .map((f) => path.join(dir, f));
  let failed = false;
  for (const file of files) {
    const docs = YAML.parseAllDocuments(fs.readFileSync(file, 'utf8'));
    for (const doc of docs) {
      const rel = path.relative(root, file);
      if (doc.errors.length) {
        failed = true;
        console.error(`${rel}: YAML error: ${doc.errors.map((e) => e.message).join('; ')}`);
        continue;
      }
      const obj = doc.toJS();
      if (obj === null) continue;
      const where = `${rel}: ${obj.kind}/${obj.metadata && obj.metadata.name}`;
      const group = String(obj.apiVersion || '');
      let Model;
      try {
        Model = (await import(`kubernetes-models/${group}/${obj.kind}`))[obj.kind];
      } catch (err) {
        failed = true;
        console.error(`${where}: no schema for apiVersion ${JSON.stringify(group)} kind ${JSON.stringify(obj.kind)} (${err.message})`);
        continue;
      }
      try {
        new Model(obj).validate();
        console.log(`${where}: valid`);
      } catch (err) {
        failed = true;
        console.error(`${where}: INVALID: ${err.message}`);
      }
    }
  }
  process.exit(failed ? 1 : 0);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
