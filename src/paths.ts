import * as fs from 'node:fs';
import * as path from 'node:path';

/**
 * The package's root folder (the one holding package.json), found by walking
 * up from this file so that the same code works from src/ under ts-jest and
 * from dist/ once compiled.
 */
function findPackageRoot(start: string): string {
  let dir = start;
  for (;;) {
    if (fs.existsSync(path.join(dir, 'package.json')) && fs.existsSync(path.join(dir, 'proto'))) return dir;
    const up = path.dirname(dir);
    if (up === dir) throw new Error(`criu-agent: cannot find the package root above ${start}`);
    dir = up;
  }
}

export const packageRoot = findPackageRoot(__dirname);
export const protoDir = path.join(packageRoot, 'proto');
