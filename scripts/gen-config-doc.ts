// Writes docs/configuration.md from the configuration schema (npm run docs:config).
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { renderConfigDoc } from '../src/config/doc.js';

const target = fileURLToPath(new URL('../docs/configuration.md', import.meta.url));
writeFileSync(target, renderConfigDoc());
console.log(`wrote ${target}`);
