/** The simservs document: validation with precise reasons, the default, and the typed model. */
import { describe, expect, it } from 'vitest';
import { defaultSettings, defaultSimservs, parseSimservs, serializeSimservs, validateSimservs, type SimservsSettings } from '../../src/xdms/simservs.js';

const HEAD = '<simservs xmlns="http://uri.etsi.org/ngn/params/xml/simservs/xcap" xmlns:cp="urn:ietf:params:xml:ns:common-policy">';

function doc(inner: string): string {
  return `${HEAD}${inner}</simservs>`;
}

function cdivRule(conditions: string, actions = '<forward-to><target>sip:voicemail@example.com</target></forward-to>'): string {
  return doc(`<communication-diversion active="true"><cp:ruleset><cp:rule id="r1"><cp:conditions>${conditions}</cp:conditions><cp:actions>${actions}</cp:actions></cp:rule></cp:ruleset></communication-diversion>`);
}

describe('simservs validation', () => {
  it('accepts the default document of a new number, as INTERFACES.md describes it', () => {
    const text = defaultSimservs();
    expect(validateSimservs(text)).toBeUndefined();
    const settings = parseSimservs(text);
    expect(settings.oip).toEqual({ active: true });
    expect(settings.oir).toEqual({ active: false, defaultBehaviour: 'presentation-not-restricted' });
    expect(settings.cdiv).toEqual({ active: true, noReplyTimer: 30, rules: [] });
    for (const barring of [settings.icb, settings.ocb]) {
      expect(barring?.active).toBe(true);
      expect(barring?.rules).toEqual([{ id: 'rule0', deactivated: false, media: [], extraConditions: [], conditions: [], allow: true }]);
    }
  });

  it.each([
    ['<simservs/>', '/{}simservs: the root element must be simservs in namespace'],
    [doc('<call-teleportation active="true"/>'), '/simservs/call-teleportation: unknown service element'],
    [doc('<originating-identity-presentation active="yes"/>'), '/simservs/originating-identity-presentation/@active: must be true or false, got "yes"'],
    [doc('<originating-identity-presentation/><originating-identity-presentation/>'), 'appears more than once'],
    [doc('<originating-identity-presentation-restriction><default-behaviour>maybe</default-behaviour></originating-identity-presentation-restriction>'), 'default-behaviour: must be presentation-restricted or presentation-not-restricted'],
    [doc('<communication-diversion><NoReplyTimer>4</NoReplyTimer></communication-diversion>'), '/simservs/communication-diversion/NoReplyTimer: must be a whole number of seconds from 5 to 180, got "4"'],
    [doc('<communication-diversion><NoReplyTimer>181</NoReplyTimer></communication-diversion>'), 'from 5 to 180, got "181"'],
    [cdivRule('<busy/>', '<forward-to><target>voicemail</target></forward-to>'), 'cp:rule[@id="r1"]/cp:actions/forward-to/target: must be a SIP or tel URI, got "voicemail"'],
    [cdivRule('<sunny-weather/>'), 'cp:rule[@id="r1"]/cp:conditions/sunny-weather: unknown condition'],
    [cdivRule('<busy/>', '<allow>true</allow>'), 'cp:actions/allow: unexpected action'],
    [cdivRule('<busy/>', '<forward-to/>'), 'cp:actions/forward-to: needs a target'],
    [doc('<incoming-communication-barring><cp:ruleset><cp:rule id="a"><cp:conditions/><cp:actions><allow>perhaps</allow></cp:actions></cp:rule></cp:ruleset></incoming-communication-barring>'), 'cp:actions/allow: must be true or false'],
    [doc('<incoming-communication-barring><cp:ruleset><cp:rule id="a"><cp:conditions><busy/></cp:conditions><cp:actions><allow>false</allow></cp:actions></cp:rule></cp:ruleset></incoming-communication-barring>'), 'cp:conditions/busy: unknown condition'],
    [doc('<outgoing-communication-barring><cp:ruleset><cp:rule id="a"><cp:actions><allow>false</allow></cp:actions></cp:rule><cp:rule id="a"><cp:actions><allow>true</allow></cp:actions></cp:rule></cp:ruleset></outgoing-communication-barring>'), 'rule id "a" is used twice'],
    [doc('<outgoing-communication-barring><cp:ruleset><cp:rule><cp:actions><allow>false</allow></cp:actions></cp:rule></cp:ruleset></outgoing-communication-barring>'), 'needs an id attribute'],
    ['<simservs xmlns="http://uri.etsi.org/ngn/params/xml/simservs/xcap"><oops></simservs>', 'not well-formed XML'],
  ])('refuses an invalid document, naming the element (case %#)', (text, reason) => {
    expect(validateSimservs(text)).toContain(reason);
  });

  it('reads diversion rules with their conditions, media, target and timer', () => {
    const settings = parseSimservs(
      doc(`<communication-diversion active="true"><NoReplyTimer>20</NoReplyTimer><cp:ruleset>
        <cp:rule id="cfnr"><cp:conditions><no-answer/><media>audio</media></cp:conditions>
          <cp:actions><forward-to><target>tel:+16505550123</target><notify-caller>false</notify-caller></forward-to></cp:actions></cp:rule>
        <cp:rule id="cfb"><cp:conditions><busy/><rule-deactivated/></cp:conditions>
          <cp:actions><forward-to><target>sip:bob@example.com</target></forward-to></cp:actions></cp:rule>
      </cp:ruleset></communication-diversion>`),
    );
    expect(settings.cdiv).toEqual({
      active: true,
      noReplyTimer: 20,
      rules: [
        { id: 'cfnr', deactivated: false, media: ['audio'], extraConditions: [], conditions: ['no-answer'], target: 'tel:+16505550123', options: { 'notify-caller': false } },
        { id: 'cfb', deactivated: true, media: [], extraConditions: [], conditions: ['busy'], target: 'sip:bob@example.com' },
      ],
    });
  });
});

describe('simservs model', () => {
  it('serializes settings to a document that parses back to the same settings', () => {
    const settings: SimservsSettings = {
      ...defaultSettings(),
      oir: { active: true, defaultBehaviour: 'presentation-restricted' },
      cdiv: {
        active: true,
        noReplyTimer: 45,
        rules: [
          { id: 'cfu', deactivated: false, media: [], extraConditions: [], conditions: [], target: 'sip:6505550999@example.com' },
          { id: 'cfnrc', deactivated: false, media: ['video'], extraConditions: [], conditions: ['not-reachable', 'not-registered'], target: 'tel:+441234' },
        ],
      },
      ocb: { active: true, rules: [{ id: 'intl', deactivated: false, media: [], extraConditions: [], conditions: ['international'], allow: false }] },
    };
    const text = serializeSimservs(settings);
    expect(validateSimservs(text)).toBeUndefined();
    expect(parseSimservs(text)).toEqual(settings);
  });

  it('keeps common-policy conditions it does not interpret through a round trip', () => {
    const text = cdivRule('<cp:identity><cp:one id="sip:boss@example.com"/></cp:identity>');
    const settings = parseSimservs(text);
    expect(settings.cdiv?.rules[0]?.extraConditions[0]).toContain('sip:boss@example.com');
    expect(parseSimservs(serializeSimservs(settings))).toEqual(settings);
  });

  it('escapes values that are not plain text', () => {
    const settings: SimservsSettings = {
      cdiv: { active: true, rules: [{ id: 'r', deactivated: false, media: [], extraConditions: [], conditions: [], target: 'sip:a@b;x=<&>' }] },
    };
    expect(serializeSimservs(settings)).toContain('sip:a@b;x=&lt;&amp;&gt;');
  });
});
