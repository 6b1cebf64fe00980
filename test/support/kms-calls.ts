/**
 * Which KMS calls the product makes: the methods of `interface KmsPort` (read with the TypeScript
 * parser) and the `kms.<method>(` call sites in shared/ and functions/. The RAM policy test and
 * doctor's action list both check themselves against this.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

const root = fileURLToPath(new URL('../../', import.meta.url));

/** Method names of `interface KmsPort` in shared/kms/port.ts, read with the TypeScript parser. */
export function kmsPortMethods(): string[] {
  const path = `${root}shared/kms/port.ts`;
  const source = ts.createSourceFile(path, readFileSync(path, 'utf8'), ts.ScriptTarget.ES2022, true);
  const port = source.statements.find(
    (s): s is ts.InterfaceDeclaration => ts.isInterfaceDeclaration(s) && s.name.text === 'KmsPort',
  );
  if (!port) throw new Error('shared/kms/port.ts: interface KmsPort not found');
  return port.members.filter(ts.isMethodSignature).map((m) => m.name.getText(source));
}

/**
 * KmsPort methods the product actually calls (shared/ and functions/, outside the port and its
 * adapter): `kms.<method>(` call sites. The role needs exactly these, not every port method.
 */
export function calledKmsMethods(): string[] {
  const port = new Set(kmsPortMethods());
  const called = new Set<string>();
  const walk = (dir: string): void => {
    for (const e of readdirSync(`${root}${dir}`, { withFileTypes: true })) {
      const rel = `${dir}/${e.name}`;
      if (e.isDirectory()) walk(rel);
      else if (e.name.endsWith('.ts') && !rel.startsWith('shared/kms/')) {
        for (const m of readFileSync(`${root}${rel}`, 'utf8').matchAll(/\bkms\.([A-Za-z]+)\(/g))
          if (port.has(m[1]!)) called.add(m[1]!);
      }
    }
  };
  walk('shared');
  walk('functions');
  return [...called].sort();
}
