import { provisioningSuite } from './provisioning.suite.js';
import { openMemory } from './fixtures.js';

provisioningSuite('memory', openMemory);
