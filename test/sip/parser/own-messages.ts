import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The project's own hand-made messages (test/sip/parser/messages/*.sip, CRLF, bit-exact). */
export const MESSAGES_DIR = path.join(path.dirname(fileURLToPath(import.meta.url)), 'messages');

export function ownMessage(name: string): Buffer {
  return readFileSync(path.join(MESSAGES_DIR, name));
}

export function ownMessages(): Buffer[] {
  return readdirSync(MESSAGES_DIR)
    .filter((f) => f.endsWith('.sip'))
    .sort()
    .map(ownMessage);
}
