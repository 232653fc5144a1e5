// The charts the aidmp dashboard draws (bars, lines, scatter on a grid, tooltip, legend),
// rendered to canvas: ECharts' own modular entry points, bundled into one global `echarts`.
import * as echarts from "echarts/core";
import { BarChart, LineChart, ScatterChart } from "echarts/charts";
import { AxisPointerComponent, GridComponent, LegendComponent, TooltipComponent } from "echarts/components";
import { CanvasRenderer } from "echarts/renderers";

echarts.use([BarChart, LineChart, ScatterChart, GridComponent, LegendComponent, AxisPointerComponent,
  TooltipComponent, CanvasRenderer]);
window.echarts = echarts;
