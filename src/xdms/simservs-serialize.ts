/**
 * Writes {@link SimservsSettings} as a simservs document (3GPP TS 24.623 §6), and the default
 * document every new number gets (INTERFACES.md, XDMS).
 */
import { escapeXml } from './errors.js';
import {
  COMMON_POLICY_NS,
  SIMSERVS_NS,
  type BarringRule,
  type BarringService,
  type DiversionRule,
  type DiversionService,
  type ForwardOption,
  type RestrictionService,
  type ServiceState,
  type SimservsSettings,
} from './simservs.js';

const ORDER: readonly (keyof SimservsSettings)[] = ['oip', 'oir', 'tip', 'tir', 'cw', 'cdiv', 'icb', 'ocb'];
const NAMES: Record<keyof SimservsSettings, string> = {
  oip: 'originating-identity-presentation',
  oir: 'originating-identity-presentation-restriction',
  tip: 'terminating-identity-presentation',
  tir: 'terminating-identity-presentation-restriction',
  cw: 'communication-waiting',
  cdiv: 'communication-diversion',
  icb: 'incoming-communication-barring',
  ocb: 'outgoing-communication-barring',
};

/** The settings of a new number: OIP on, OIR off, diversion on with no rules, barring allowing all. */
export function defaultSettings(): SimservsSettings {
  const allowAll: BarringRule = { id: 'rule0', deactivated: false, media: [], extraConditions: [], conditions: [], allow: true };
  return {
    oip: { active: true },
    oir: { active: false, defaultBehaviour: 'presentation-not-restricted' },
    cdiv: { active: true, noReplyTimer: 30, rules: [] },
    icb: { active: true, rules: [allowAll] },
    ocb: { active: true, rules: [allowAll] },
  };
}

/** The default simservs document of a new number (INTERFACES.md, XDMS). */
export function defaultSimservs(): string {
  return serializeSimservs(defaultSettings());
}

/** Serializes settings as a simservs document; services absent from `settings` are left out. */
export function serializeSimservs(settings: SimservsSettings): string {
  const body: string[] = [];
  for (const key of ORDER) {
    const service = settings[key];
    if (service) body.push(...serviceLines(key, service));
  }
  return [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<simservs xmlns="${SIMSERVS_NS}" xmlns:cp="${COMMON_POLICY_NS}">`,
    ...body.map((line) => `  ${line}`),
    '</simservs>',
    '',
  ].join('\n');
}

function serviceLines(key: keyof SimservsSettings, service: ServiceState): string[] {
  const open = `<${NAMES[key]} active="${service.active}"`;
  const close = `</${NAMES[key]}>`;
  const inner: string[] = [];
  if (key === 'oir' || key === 'tir') {
    const behaviour = (service as RestrictionService).defaultBehaviour;
    if (behaviour) inner.push(`<default-behaviour>${behaviour}</default-behaviour>`);
  } else if (key === 'cdiv') {
    const cdiv = service as DiversionService;
    if (cdiv.noReplyTimer !== undefined) inner.push(`<NoReplyTimer>${Math.trunc(cdiv.noReplyTimer)}</NoReplyTimer>`);
    inner.push(...rulesetLines(cdiv.rules.map(diversionRuleLines)));
  } else if (key === 'icb' || key === 'ocb') {
    inner.push(...rulesetLines((service as BarringService).rules.map(barringRuleLines)));
  }
  if (inner.length === 0) return [`${open}/>`];
  return [`${open}>`, ...inner.map((line) => `  ${line}`), close];
}

function rulesetLines(rules: string[][]): string[] {
  if (rules.length === 0) return ['<cp:ruleset/>'];
  return ['<cp:ruleset>', ...rules.flat().map((line) => `  ${line}`), '</cp:ruleset>'];
}

function conditionLines(rule: DiversionRule | BarringRule): string[] {
  const lines = [
    ...rule.conditions.map((c) => `<${c}/>`),
    ...rule.media.map((m) => `<media>${escapeXml(m)}</media>`),
    ...rule.extraConditions,
    ...(rule.deactivated ? ['<rule-deactivated/>'] : []),
  ];
  if (lines.length === 0) return ['<cp:conditions/>'];
  return ['<cp:conditions>', ...lines.map((line) => `  ${line}`), '</cp:conditions>'];
}

function diversionRuleLines(rule: DiversionRule): string[] {
  const options = Object.entries(rule.options ?? {}) as [ForwardOption, boolean | undefined][];
  const forward = [
    `<target>${escapeXml(rule.target)}</target>`,
    ...options.filter(([, v]) => v !== undefined).map(([name, value]) => `<${name}>${value}</${name}>`),
  ];
  const actions = ['<cp:actions>', '  <forward-to>', ...forward.map((line) => `    ${line}`), '  </forward-to>', '</cp:actions>'];
  return ruleLines(rule.id, [...conditionLines(rule), ...actions]);
}

function barringRuleLines(rule: BarringRule): string[] {
  return ruleLines(rule.id, [...conditionLines(rule), '<cp:actions>', `  <allow>${rule.allow}</allow>`, '</cp:actions>']);
}

function ruleLines(id: string, inner: string[]): string[] {
  return [`<cp:rule id="${escapeXml(id)}">`, ...inner.map((line) => `  ${line}`), '</cp:rule>'];
}
