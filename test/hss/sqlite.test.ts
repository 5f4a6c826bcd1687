/** Both HSS APIs on the SQLite adapter the all-in-one uses. */
import { openSqlite } from './fixtures.js';
import { provisioningSuite } from './provisioning.suite.js';
import { signallingSuite } from './signalling.suite.js';

signallingSuite('sqlite', openSqlite);
provisioningSuite('sqlite', openSqlite);
