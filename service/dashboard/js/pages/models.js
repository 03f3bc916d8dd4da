// Registered models: the list (with every schedule), and one model with its aliases, versions,
// metrics per version, drift over time, monitoring runs, schedules, policy and alias history.
//
// Polling: the model page reads its six answers every two seconds while a monitoring run is
// still moving, every ten otherwise; a section is drawn again only when its answer changed, so
// a half-confirmed button survives the polls.

import { getJSON, postJSON, request } from "../api.js";
import { h, problemBox, replace } from "../dom.js";
import { number, time } from "../format.js";
import { DriftChart, VersionMetricChart, versionMetricNames } from "../model_charts.js";
import { every } from "../poller.js";
import {
  FINAL_RUN_STATES, aliasBadges, aliasHistory, modelsTable, policyFacts, runsTable, schedulesTable, versionMetric, versionsTable,
} from "./model_sections.js";

const LIST_POLL_MS = 5000;
const BUSY_POLL_MS = 2000; // a monitoring run is moving
const IDLE_POLL_MS = 10_000;

export function render(view, { id }) {
  return id ? showModel(view, id) : listModels(view);
}

async function patchSchedule(schedule) {
  return (await request("PATCH", `/v1/schedules/${encodeURIComponent(schedule.id)}`, { json: { paused: !schedule.paused } })).json();
}

function listModels(view) {
  document.title = "Models · Adamant";
  const feedback = h("div.feedback");
  const models = h("div.models", {}, h("p.muted", {}, "Loading…"));
  const schedules = h("div.schedules", {}, h("p.muted", {}, "Loading…"));
  view.append(h("section.page.models-page", {},
    h("div.page-head", {}, h("h1", {}, "Models")), feedback, models,
    h("h2", {}, "Schedules"), schedules));

  const drawn = {};
  const draw = (name, el, body, build) => {
    const key = JSON.stringify(body);
    if (drawn[name] === key) return;
    drawn[name] = key;
    replace(el, build(body));
  };
  const toggle = async (schedule) => {
    try {
      await patchSchedule(schedule);
      replace(feedback);
    } catch (error) {
      replace(feedback, problemBox(error, { onClose: () => replace(feedback) }));
    }
    drawn.schedules = null;
    await load().catch((error) => replace(feedback, problemBox(error)));
  };
  const load = async () => {
    const [modelList, scheduleList] = await Promise.all([getJSON("/v1/models"), getJSON("/v1/schedules")]);
    draw("models", models, modelList, modelsTable);
    draw("schedules", schedules, scheduleList, (list) => schedulesTable(list, toggle, { withModel: true }));
  };
  let stop = () => {};
  let left = false;
  load().then(() => { if (!left) stop = every(LIST_POLL_MS, load); }).catch((error) => replace(models, problemBox(error)));
  return () => {
    left = true;
    stop();
  };
}

function showModel(view, name) {
  document.title = `${name} · Adamant`;
  const base = `/v1/models/${encodeURIComponent(name)}`;
  const feedback = h("div.feedback", { id: "model-feedback" });
  const header = h("div.model-header", {}, h("h1", {}, name), h("p.muted", {}, "Loading…"));
  const versions = h("div.model-versions");
  const metricPicker = h("select", { id: "version-metric", "aria-label": "Metric per version", hidden: true,
    onchange: () => drawMetricChart() });
  const metricBox = h("div.chart-box", { id: "version-metrics" });
  const driftBox = h("div.chart-box", { id: "drift-chart" });
  const runs = h("div.model-runs");
  const schedules = h("div.model-schedules");
  const policy = h("div.model-policy");
  const history = h("div.model-alias-history");
  view.append(h("section.page.model-page", { dataset: { model: name } },
    h("a.back", { href: "#/models" }, "← Models"),
    header, feedback,
    h("h2", {}, "Versions"), versions,
    h("div.charts.model-charts", {},
      h("div", {}, h("div.chart-head", {}, h("h2", {}, "Metrics over versions"), metricPicker), metricBox),
      h("div", {}, h("h2", {}, "Drift over time"), driftBox)),
    h("h2", {}, "Monitoring runs"), runs,
    h("h2", {}, "Schedules"), schedules,
    h("div.two-columns", {},
      h("div", {}, h("h2", {}, "Policy"), policy),
      h("div", {}, h("h2", {}, "Alias history"), history))));

  const metricChart = new VersionMetricChart(metricBox);
  const driftChart = new DriftChart(driftBox);
  const state = { model: null, policy: null, runs: [] };
  const drawn = {};
  let busy = false;
  let left = false;

  const showProblem = (error) => replace(feedback, problemBox(error, { onClose: () => replace(feedback) }));

  // Each action ends with a fresh read, so the page shows what the service did.
  const actions = {
    async moveAlias(version, expected) {
      const alias = state.policy?.alias || "production";
      const body = { version, reason: `from the dashboard: ${alias} → v${version}` };
      if (expected === undefined) body.expect_new = true;
      else body.expected_version = expected;
      try {
        await request("PUT", `${base}/aliases/${encodeURIComponent(alias)}`, { json: body });
        replace(feedback);
      } catch (error) {
        showProblem(error); // 409: the alias moved since this page read it
      }
      await refresh().catch(showProblem);
    },
    async decide(run, approve) {
      try {
        await postJSON(`${base}/monitor-runs/${encodeURIComponent(run.id)}/approve`, { approve });
        replace(feedback);
      } catch (error) {
        showProblem(error);
      }
      await refresh().catch(showProblem);
    },
    async toggle(schedule) {
      try {
        await patchSchedule(schedule);
        replace(feedback);
      } catch (error) {
        showProblem(error);
      }
      drawn.schedules = null; // its button was disabled: draw it again even if nothing changed
      await refresh().catch(showProblem);
    },
  };

  /** Draw `el` from `body` with `build` unless the same answer is drawn already. */
  function draw(section, el, body, build) {
    const key = JSON.stringify(body);
    if (drawn[section] === key) return false;
    drawn[section] = key;
    replace(el, build(body));
    return true;
  }

  function drawMetricChart() {
    if (!state.model?.versions.length) metricChart.empty("No versions registered yet.");
    else metricChart.draw(state.model.versions, metricPicker.value);
  }

  function drawHeader(model) {
    const latest = model.versions.at(-1);
    const metric = latest ? versionMetric(model, latest) : null;
    return h("div.page-head", {},
      h("div.title-block", {}, h("h1", {}, model.name),
        h("div.muted.small", {}, model.task.replaceAll("_", " "), ` · ${model.versions.length} version${model.versions.length === 1 ? "" : "s"}`,
          metric ? ` · latest v${latest.version}: ${metric[0]} ${number(metric[1])}` : "", ` · created ${time(model.created_at)}`),
        model.description ? h("p", {}, model.description) : null),
      h("div.actions.model-aliases", {}, aliasBadges(model.aliases)));
  }

  async function refresh() {
    const [model, runList, scheduleList, policyBody, events] = await Promise.all([
      getJSON(base), getJSON(`${base}/monitor-runs`), getJSON(`${base}/schedules`), getJSON(`${base}/policy`),
      getJSON(`${base}/aliases/history`)]);
    if (left) return;
    state.model = model;
    state.policy = policyBody;
    state.runs = runList;
    busy = runList.some((r) => !FINAL_RUN_STATES.has(r.state));
    document.title = `${model.name} · Adamant`;
    draw("header", header, model, drawHeader);
    draw("versions", versions, [model, policyBody.alias], () => versionsTable(model, policyBody.alias, actions.moveAlias));
    if (draw("metricNames", metricPicker, versionMetricNames(model.versions, versionMetric(model, model.versions.at(-1) || {})?.[0]),
      (names) => names.map((n) => h("option", { value: n, selected: n === metricPicker.value }, n)))) {
      metricPicker.hidden = metricPicker.options.length < 2;
    }
    const chartKey = `${drawn.versions}|${metricPicker.value}`;
    if (drawn.metricChart !== chartKey) {
      drawn.metricChart = chartKey;
      drawMetricChart();
    }
    // the drift chart and the runs table change together
    if (draw("runs", runs, runList, (list) => runsTable(list, actions.decide))) driftChart.draw(runList);
    draw("schedules", schedules, scheduleList, (list) => schedulesTable(list, actions.toggle));
    draw("policy", policy, policyBody, policyFacts);
    draw("history", history, events, aliasHistory);
  }

  let stop = () => {};
  refresh()
    .then(() => { if (!left) stop = every(() => (busy ? BUSY_POLL_MS : IDLE_POLL_MS), refresh); })
    .catch((error) => replace(header, h("h1", {}, name), problemBox(error)));
  return () => {
    left = true;
    stop();
    metricChart.destroy();
    driftChart.destroy();
  };
}
