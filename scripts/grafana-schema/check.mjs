// Writes one TypeScript module per dashboard JSON, typed with Grafana's
// published model (@grafana/schema), for `tsc --noEmit` to check:
//
//   node check.mjs OUT_DIR DASHBOARD.json...
//
// Every panel is checked against its own panel plugin's options and field
// config (timeseries, stat, table, bargauge, logs), every query against
// the Prometheus or Loki query model, and the whole dashboard against
// `Dashboard`. Object literals with `satisfies` make TypeScript reject
// unknown (misspelled) keys, not only wrong types.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';

const [out, ...files] = process.argv.slice(2);
if (!out || files.length === 0) {
  console.error('usage: node check.mjs OUT_DIR DASHBOARD.json...');
  process.exit(2);
}

const PLUGINS = {
  timeseries: 'TimeSeries',
  stat: 'Stat',
  table: 'Table',
  bargauge: 'BarGauge',
  logs: 'Logs',
};
// Panel plugins whose schema has no field-config type of its own.
const NO_FIELD_CONFIG = new Set(['stat', 'bargauge', 'logs']);

const prelude = `import type { Dashboard, Panel, DataQuery } from '@grafana/schema';
${Object.entries(PLUGINS)
  .map(([id, name]) => `import type * as ${id} from '@grafana/schema/dist/esm/raw/composable/${id}/panelcfg/x/${name}PanelCfg_types.gen';`)
  .join('\n')}

/** The Prometheus data source's query model (public/app/plugins/datasource/prometheus). */
interface PrometheusQuery extends DataQuery {
  expr: string;
  legendFormat?: string;
  instant?: boolean;
  range?: boolean;
  format?: 'time_series' | 'table' | 'heatmap';
  interval?: string;
  intervalFactor?: number;
  exemplar?: boolean;
  editorMode?: 'code' | 'builder';
}

/** The Loki data source's query model. */
interface LokiQuery extends DataQuery {
  expr: string;
  queryType?: 'range' | 'instant' | 'stream';
  legendFormat?: string;
  maxLines?: number;
  step?: string;
  editorMode?: 'code' | 'builder';
}

/**
 * The JSON form of a type: Grafana's string enums (GraphDrawStyle, …) are
 * nominal in TypeScript, but in dashboard JSON they are their values.
 */
type Json<T> = T extends string
  ? string extends T
    ? T
    : \`\${T}\`
  : T extends readonly (infer U)[]
    ? Json<U>[]
    : T extends object
      ? { [K in keyof T]: Json<T[K]> }
      : T;

type Typed<Options, Custom, Query extends DataQuery> = Omit<Panel<Options, Custom>, 'options' | 'targets'> & {
  options?: Options;
  targets?: Query[];
};
`;

mkdirSync(out, { recursive: true });
for (const file of files) {
  const dashboard = JSON.parse(readFileSync(file, 'utf8'));
  const { panels = [], ...rest } = dashboard;
  const lines = [prelude];
  const names = [];
  const flat = panels.flatMap((p) => (p.type === 'row' ? [p, ...(p.panels ?? [])] : [p]));
  flat.forEach((panel, i) => {
    const name = `panel${i}`;
    const query = panel.datasource?.type === 'loki' ? 'LokiQuery' : 'PrometheusQuery';
    let type = 'Json<Panel>';
    if (PLUGINS[panel.type]) {
      const custom = NO_FIELD_CONFIG.has(panel.type) ? 'Record<string, unknown>' : `${panel.type}.FieldConfig`;
      type = `Json<Typed<${panel.type}.Options, ${custom}, ${query}>>`;
    }
    lines.push(`// ${JSON.stringify(panel.title ?? '')}\nconst ${name} = ${JSON.stringify(panel, null, 2)} satisfies ${type};\n`);
    names.push(name);
  });
  // One object literal (a spread would escape the check for unknown keys).
  const literal = JSON.stringify({ ...rest, panels: '__PANELS__' }, null, 2).replace('"__PANELS__"', `[${names.join(', ')}]`);
  lines.push(`export const dashboard = ${literal} satisfies Json<Dashboard>;\n`);
  writeFileSync(join(out, basename(file).replace(/\.json$/, '.ts')), lines.join('\n'));
}
