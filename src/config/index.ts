/**
 * The all-in-one's configuration: one schema for the YAML file, the environment and the flags
 * (STYLE.md). See docs/configuration.md, generated from fields.ts by `npm run docs:config`.
 */
export {
  CONFIG_FIELDS,
  CONFIG_SECTIONS,
  DIGEST_ALGORITHMS,
  ENV_PREFIX,
  LOG_LEVELS,
  fieldAt,
  type ConfigField,
  type ConfigSection,
} from './fields.js';
export { allInOneConfigSchema, defaultConfig, type AllInOneConfig, type AllInOneConfigInput } from './schema.js';
export {
  CONFIG_FILE_ENV,
  ConfigError,
  describeSource,
  loadConfig,
  readConfigFile,
  type ConfigSource,
  type FlagValue,
  type LoadConfigOptions,
} from './load.js';
export { renderConfigDoc } from './doc.js';
