export * from './criteria.js';
export { compileFilterCriteria, FilterCriteriaCache } from './compile.js';
export { criterionMatches, ifcRequestOf, nextMatch, sptMatches, triggerMatches, type IfcRequest, type IfcSituation } from './evaluate.js';
