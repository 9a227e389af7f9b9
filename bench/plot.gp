# bench/plot.gp: throughput against clients, one line per contender.
# scripts/bench.sh calls it with -e 'datafile="..."; outfile="...";
# plottitle="..."; ylabel="..."; clientstics="\"1\" 1, \"8\" 8, ..."'; the
# data file has a header line (clients, then one column per contender,
# the extension first) and one line per client count.
set terminal pngcairo size 900,560 noenhanced font "sans,10"
set output outfile
set title plottitle
set xlabel "clients"
set ylabel ylabel
set logscale x 2
set logscale y 10
eval("set xtics (" . clientstics . ")")
set format y "%.0f"
set grid xtics ytics mytics
set key outside right top
stats datafile skip 1 nooutput
ncol = STATS_columns
# some room left and right, so that the end points and their tics show
stats datafile using 1 skip 1 nooutput
set xrange [STATS_min / 1.4 : STATS_max * 1.4]
# the extension (column 2) drawn thicker: it is what the reader compares
plot for [i=2:ncol] datafile using 1:i with linespoints lw (i == 2 ? 3.5 : 1.5) pt 7 title columnheader(i)
