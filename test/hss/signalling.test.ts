import { signallingSuite } from './signalling.suite.js';
import { openMemory } from './fixtures.js';

signallingSuite('memory', openMemory);
