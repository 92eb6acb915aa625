set terminal pngcairo noenhanced size 1500,990 font ',9'
set output "../throughput.png"
set multiplot layout 3,3 title "throughput against threads (M items/s, median); 20261124-030140-vm"
set logscale x 2; set xlabel 'threads'; set ylabel 'M items/s'
set xrange [0.8:10]; set xtics (1, 2, 4, 8)
set key outside right top vertical font ',7' samplen 2
set grid; set yrange [0:*]
set title "BM_HotPair/32"
plot "panel00.dat" using 1:2 with linespoints lw 1.5 lc rgb '#7b2fbf' pt 7 title "pymt", "panel00.dat" using 1:3 with linespoints lw 1.5 lc rgb '#3aa655' pt 5 title "pymt-notcache", "panel00.dat" using 1:4 with linespoints lw 1.5 lc rgb '#6fa8dc' pt 3 title "pymt-debug", "panel00.dat" using 1:5 with linespoints lw 1.5 lc rgb '#000000' pt 4 title "glibc", "panel00.dat" using 1:6 with linespoints lw 1.5 lc rgb '#e69f00' pt 9 title "mimalloc", "panel00.dat" using 1:7 with linespoints lw 1.5 lc rgb '#0060c0' pt 6 title "jemalloc", "panel00.dat" using 1:8 with linespoints lw 1.5 lc rgb '#d01c1c' pt 13 title "tcmalloc"
set title "BM_HotPair/256"
plot "panel01.dat" using 1:2 with linespoints lw 1.5 lc rgb '#7b2fbf' pt 7 title "pymt", "panel01.dat" using 1:3 with linespoints lw 1.5 lc rgb '#3aa655' pt 5 title "pymt-notcache", "panel01.dat" using 1:4 with linespoints lw 1.5 lc rgb '#6fa8dc' pt 3 title "pymt-debug", "panel01.dat" using 1:5 with linespoints lw 1.5 lc rgb '#000000' pt 4 title "glibc", "panel01.dat" using 1:6 with linespoints lw 1.5 lc rgb '#e69f00' pt 9 title "mimalloc", "panel01.dat" using 1:7 with linespoints lw 1.5 lc rgb '#0060c0' pt 6 title "jemalloc", "panel01.dat" using 1:8 with linespoints lw 1.5 lc rgb '#d01c1c' pt 13 title "tcmalloc"
set title "BM_HotPairKeep/32"
plot "panel02.dat" using 1:2 with linespoints lw 1.5 lc rgb '#7b2fbf' pt 7 title "pymt", "panel02.dat" using 1:3 with linespoints lw 1.5 lc rgb '#3aa655' pt 5 title "pymt-notcache", "panel02.dat" using 1:4 with linespoints lw 1.5 lc rgb '#6fa8dc' pt 3 title "pymt-debug", "panel02.dat" using 1:5 with linespoints lw 1.5 lc rgb '#000000' pt 4 title "glibc", "panel02.dat" using 1:6 with linespoints lw 1.5 lc rgb '#e69f00' pt 9 title "mimalloc", "panel02.dat" using 1:7 with linespoints lw 1.5 lc rgb '#0060c0' pt 6 title "jemalloc", "panel02.dat" using 1:8 with linespoints lw 1.5 lc rgb '#d01c1c' pt 13 title "tcmalloc"
set title "BM_Churn/1000"
plot "panel03.dat" using 1:2 with linespoints lw 1.5 lc rgb '#7b2fbf' pt 7 title "pymt", "panel03.dat" using 1:3 with linespoints lw 1.5 lc rgb '#3aa655' pt 5 title "pymt-notcache", "panel03.dat" using 1:4 with linespoints lw 1.5 lc rgb '#6fa8dc' pt 3 title "pymt-debug", "panel03.dat" using 1:5 with linespoints lw 1.5 lc rgb '#000000' pt 4 title "glibc", "panel03.dat" using 1:6 with linespoints lw 1.5 lc rgb '#e69f00' pt 9 title "mimalloc", "panel03.dat" using 1:7 with linespoints lw 1.5 lc rgb '#0060c0' pt 6 title "jemalloc", "panel03.dat" using 1:8 with linespoints lw 1.5 lc rgb '#d01c1c' pt 13 title "tcmalloc"
set title "BM_Churn/100000"
plot "panel04.dat" using 1:2 with linespoints lw 1.5 lc rgb '#7b2fbf' pt 7 title "pymt", "panel04.dat" using 1:3 with linespoints lw 1.5 lc rgb '#3aa655' pt 5 title "pymt-notcache", "panel04.dat" using 1:4 with linespoints lw 1.5 lc rgb '#6fa8dc' pt 3 title "pymt-debug", "panel04.dat" using 1:5 with linespoints lw 1.5 lc rgb '#000000' pt 4 title "glibc", "panel04.dat" using 1:6 with linespoints lw 1.5 lc rgb '#e69f00' pt 9 title "mimalloc", "panel04.dat" using 1:7 with linespoints lw 1.5 lc rgb '#0060c0' pt 6 title "jemalloc", "panel04.dat" using 1:8 with linespoints lw 1.5 lc rgb '#d01c1c' pt 13 title "tcmalloc"
set title "BM_Objects/1000"
plot "panel05.dat" using 1:2 with linespoints lw 1.5 lc rgb '#7b2fbf' pt 7 title "pymt", "panel05.dat" using 1:3 with linespoints lw 1.5 lc rgb '#3aa655' pt 5 title "pymt-notcache", "panel05.dat" using 1:4 with linespoints lw 1.5 lc rgb '#6fa8dc' pt 3 title "pymt-debug", "panel05.dat" using 1:5 with linespoints lw 1.5 lc rgb '#000000' pt 4 title "glibc", "panel05.dat" using 1:6 with linespoints lw 1.5 lc rgb '#e69f00' pt 9 title "mimalloc", "panel05.dat" using 1:7 with linespoints lw 1.5 lc rgb '#0060c0' pt 6 title "jemalloc", "panel05.dat" using 1:8 with linespoints lw 1.5 lc rgb '#d01c1c' pt 13 title "tcmalloc"
set title "BM_ProdCons (1:1, 4:4)"
plot "panel06.dat" using 1:2 with linespoints lw 1.5 lc rgb '#7b2fbf' pt 7 title "pymt", "panel06.dat" using 1:3 with linespoints lw 1.5 lc rgb '#3aa655' pt 5 title "pymt-notcache", "panel06.dat" using 1:4 with linespoints lw 1.5 lc rgb '#6fa8dc' pt 3 title "pymt-debug", "panel06.dat" using 1:5 with linespoints lw 1.5 lc rgb '#000000' pt 4 title "glibc", "panel06.dat" using 1:6 with linespoints lw 1.5 lc rgb '#e69f00' pt 9 title "mimalloc", "panel06.dat" using 1:7 with linespoints lw 1.5 lc rgb '#0060c0' pt 6 title "jemalloc", "panel06.dat" using 1:8 with linespoints lw 1.5 lc rgb '#d01c1c' pt 13 title "tcmalloc"
set title "BM_ReallocString/4096"
plot "panel07.dat" using 1:2 with linespoints lw 1.5 lc rgb '#7b2fbf' pt 7 title "pymt", "panel07.dat" using 1:3 with linespoints lw 1.5 lc rgb '#3aa655' pt 5 title "pymt-notcache", "panel07.dat" using 1:4 with linespoints lw 1.5 lc rgb '#6fa8dc' pt 3 title "pymt-debug", "panel07.dat" using 1:5 with linespoints lw 1.5 lc rgb '#000000' pt 4 title "glibc", "panel07.dat" using 1:6 with linespoints lw 1.5 lc rgb '#e69f00' pt 9 title "mimalloc", "panel07.dat" using 1:7 with linespoints lw 1.5 lc rgb '#0060c0' pt 6 title "jemalloc", "panel07.dat" using 1:8 with linespoints lw 1.5 lc rgb '#d01c1c' pt 13 title "tcmalloc"
set title "BM_Larson"
plot "panel08.dat" using 1:2 with linespoints lw 1.5 lc rgb '#7b2fbf' pt 7 title "pymt", "panel08.dat" using 1:3 with linespoints lw 1.5 lc rgb '#3aa655' pt 5 title "pymt-notcache", "panel08.dat" using 1:4 with linespoints lw 1.5 lc rgb '#6fa8dc' pt 3 title "pymt-debug", "panel08.dat" using 1:5 with linespoints lw 1.5 lc rgb '#000000' pt 4 title "glibc", "panel08.dat" using 1:6 with linespoints lw 1.5 lc rgb '#e69f00' pt 9 title "mimalloc", "panel08.dat" using 1:7 with linespoints lw 1.5 lc rgb '#0060c0' pt 6 title "jemalloc", "panel08.dat" using 1:8 with linespoints lw 1.5 lc rgb '#d01c1c' pt 13 title "tcmalloc"
unset multiplot
unset logscale x; unset xlabel; set autoscale x; set xtics autofreq
set terminal svg noenhanced size 1500,990 font 'sans,9'
set output "../throughput.svg"
set multiplot layout 3,3 title "throughput against threads (M items/s, median); 20261124-030140-vm"
set logscale x 2; set xlabel 'threads'; set ylabel 'M items/s'
set xrange [0.8:10]; set xtics (1, 2, 4, 8)
set key outside right top vertical font ',7' samplen 2
set grid; set yrange [0:*]
set title "BM_HotPair/32"
plot "panel00.dat" using 1:2 with linespoints lw 1.5 lc rgb '#7b2fbf' pt 7 title "pymt", "panel00.dat" using 1:3 with linespoints lw 1.5 lc rgb '#3aa655' pt 5 title "pymt-notcache", "panel00.dat" using 1:4 with linespoints lw 1.5 lc rgb '#6fa8dc' pt 3 title "pymt-debug", "panel00.dat" using 1:5 with linespoints lw 1.5 lc rgb '#000000' pt 4 title "glibc", "panel00.dat" using 1:6 with linespoints lw 1.5 lc rgb '#e69f00' pt 9 title "mimalloc", "panel00.dat" using 1:7 with linespoints lw 1.5 lc rgb '#0060c0' pt 6 title "jemalloc", "panel00.dat" using 1:8 with linespoints lw 1.5 lc rgb '#d01c1c' pt 13 title "tcmalloc"
set title "BM_HotPair/256"
plot "panel01.dat" using 1:2 with linespoints lw 1.5 lc rgb '#7b2fbf' pt 7 title "pymt", "panel01.dat" using 1:3 with linespoints lw 1.5 lc rgb '#3aa655' pt 5 title "pymt-notcache", "panel01.dat" using 1:4 with linespoints lw 1.5 lc rgb '#6fa8dc' pt 3 title "pymt-debug", "panel01.dat" using 1:5 with linespoints lw 1.5 lc rgb '#000000' pt 4 title "glibc", "panel01.dat" using 1:6 with linespoints lw 1.5 lc rgb '#e69f00' pt 9 title "mimalloc", "panel01.dat" using 1:7 with linespoints lw 1.5 lc rgb '#0060c0' pt 6 title "jemalloc", "panel01.dat" using 1:8 with linespoints lw 1.5 lc rgb '#d01c1c' pt 13 title "tcmalloc"
set title "BM_HotPairKeep/32"
plot "panel02.dat" using 1:2 with linespoints lw 1.5 lc rgb '#7b2fbf' pt 7 title "pymt", "panel02.dat" using 1:3 with linespoints lw 1.5 lc rgb '#3aa655' pt 5 title "pymt-notcache", "panel02.dat" using 1:4 with linespoints lw 1.5 lc rgb '#6fa8dc' pt 3 title "pymt-debug", "panel02.dat" using 1:5 with linespoints lw 1.5 lc rgb '#000000' pt 4 title "glibc", "panel02.dat" using 1:6 with linespoints lw 1.5 lc rgb '#e69f00' pt 9 title "mimalloc", "panel02.dat" using 1:7 with linespoints lw 1.5 lc rgb '#0060c0' pt 6 title "jemalloc", "panel02.dat" using 1:8 with linespoints lw 1.5 lc rgb '#d01c1c' pt 13 title "tcmalloc"
set title "BM_Churn/1000"
plot "panel03.dat" using 1:2 with linespoints lw 1.5 lc rgb '#7b2fbf' pt 7 title "pymt", "panel03.dat" using 1:3 with linespoints lw 1.5 lc rgb '#3aa655' pt 5 title "pymt-notcache", "panel03.dat" using 1:4 with linespoints lw 1.5 lc rgb '#6fa8dc' pt 3 title "pymt-debug", "panel03.dat" using 1:5 with linespoints lw 1.5 lc rgb '#000000' pt 4 title "glibc", "panel03.dat" using 1:6 with linespoints lw 1.5 lc rgb '#e69f00' pt 9 title "mimalloc", "panel03.dat" using 1:7 with linespoints lw 1.5 lc rgb '#0060c0' pt 6 title "jemalloc", "panel03.dat" using 1:8 with linespoints lw 1.5 lc rgb '#d01c1c' pt 13 title "tcmalloc"
set title "BM_Churn/100000"
plot "panel04.dat" using 1:2 with linespoints lw 1.5 lc rgb '#7b2fbf' pt 7 title "pymt", "panel04.dat" using 1:3 with linespoints lw 1.5 lc rgb '#3aa655' pt 5 title "pymt-notcache", "panel04.dat" using 1:4 with linespoints lw 1.5 lc rgb '#6fa8dc' pt 3 title "pymt-debug", "panel04.dat" using 1:5 with linespoints lw 1.5 lc rgb '#000000' pt 4 title "glibc", "panel04.dat" using 1:6 with linespoints lw 1.5 lc rgb '#e69f00' pt 9 title "mimalloc", "panel04.dat" using 1:7 with linespoints lw 1.5 lc rgb '#0060c0' pt 6 title "jemalloc", "panel04.dat" using 1:8 with linespoints lw 1.5 lc rgb '#d01c1c' pt 13 title "tcmalloc"
set title "BM_Objects/1000"
plot "panel05.dat" using 1:2 with linespoints lw 1.5 lc rgb '#7b2fbf' pt 7 title "pymt", "panel05.dat" using 1:3 with linespoints lw 1.5 lc rgb '#3aa655' pt 5 title "pymt-notcache", "panel05.dat" using 1:4 with linespoints lw 1.5 lc rgb '#6fa8dc' pt 3 title "pymt-debug", "panel05.dat" using 1:5 with linespoints lw 1.5 lc rgb '#000000' pt 4 title "glibc", "panel05.dat" using 1:6 with linespoints lw 1.5 lc rgb '#e69f00' pt 9 title "mimalloc", "panel05.dat" using 1:7 with linespoints lw 1.5 lc rgb '#0060c0' pt 6 title "jemalloc", "panel05.dat" using 1:8 with linespoints lw 1.5 lc rgb '#d01c1c' pt 13 title "tcmalloc"
set title "BM_ProdCons (1:1, 4:4)"
plot "panel06.dat" using 1:2 with linespoints lw 1.5 lc rgb '#7b2fbf' pt 7 title "pymt", "panel06.dat" using 1:3 with linespoints lw 1.5 lc rgb '#3aa655' pt 5 title "pymt-notcache", "panel06.dat" using 1:4 with linespoints lw 1.5 lc rgb '#6fa8dc' pt 3 title "pymt-debug", "panel06.dat" using 1:5 with linespoints lw 1.5 lc rgb '#000000' pt 4 title "glibc", "panel06.dat" using 1:6 with linespoints lw 1.5 lc rgb '#e69f00' pt 9 title "mimalloc", "panel06.dat" using 1:7 with linespoints lw 1.5 lc rgb '#0060c0' pt 6 title "jemalloc", "panel06.dat" using 1:8 with linespoints lw 1.5 lc rgb '#d01c1c' pt 13 title "tcmalloc"
set title "BM_ReallocString/4096"
plot "panel07.dat" using 1:2 with linespoints lw 1.5 lc rgb '#7b2fbf' pt 7 title "pymt", "panel07.dat" using 1:3 with linespoints lw 1.5 lc rgb '#3aa655' pt 5 title "pymt-notcache", "panel07.dat" using 1:4 with linespoints lw 1.5 lc rgb '#6fa8dc' pt 3 title "pymt-debug", "panel07.dat" using 1:5 with linespoints lw 1.5 lc rgb '#000000' pt 4 title "glibc", "panel07.dat" using 1:6 with linespoints lw 1.5 lc rgb '#e69f00' pt 9 title "mimalloc", "panel07.dat" using 1:7 with linespoints lw 1.5 lc rgb '#0060c0' pt 6 title "jemalloc", "panel07.dat" using 1:8 with linespoints lw 1.5 lc rgb '#d01c1c' pt 13 title "tcmalloc"
set title "BM_Larson"
plot "panel08.dat" using 1:2 with linespoints lw 1.5 lc rgb '#7b2fbf' pt 7 title "pymt", "panel08.dat" using 1:3 with linespoints lw 1.5 lc rgb '#3aa655' pt 5 title "pymt-notcache", "panel08.dat" using 1:4 with linespoints lw 1.5 lc rgb '#6fa8dc' pt 3 title "pymt-debug", "panel08.dat" using 1:5 with linespoints lw 1.5 lc rgb '#000000' pt 4 title "glibc", "panel08.dat" using 1:6 with linespoints lw 1.5 lc rgb '#e69f00' pt 9 title "mimalloc", "panel08.dat" using 1:7 with linespoints lw 1.5 lc rgb '#0060c0' pt 6 title "jemalloc", "panel08.dat" using 1:8 with linespoints lw 1.5 lc rgb '#d01c1c' pt 13 title "tcmalloc"
unset multiplot
unset logscale x; unset xlabel; set autoscale x; set xtics autofreq
set terminal pngcairo noenhanced size 1200,450 font ',9'
set output "../memory.png"
set multiplot layout 1,2 title "10000000 live blocks of 32 bytes (pymt-debug 1000000)"
unset logscale; set grid ytics; set yrange [0:*]; set key inside top right font ',8'
set style data histograms; set style histogram clustered gap 1
set style fill solid 0.8 border -1; set boxwidth 0.9; set xtics rotate by -30
set title 'overhead per object (bytes above the request)'; set ylabel 'bytes'
plot 'memory.dat' using 2:xtic(1) title 'overhead/object'
set title 'resident set above the baseline (MiB)'; set ylabel 'MiB'
plot 'memory.dat' using 3:xtic(1) title 'peak', '' using 4 title 'after free', '' using 5 title 'after trim'
unset multiplot
set terminal svg noenhanced size 1200,450 font 'sans,9'
set output "../memory.svg"
set multiplot layout 1,2 title "10000000 live blocks of 32 bytes (pymt-debug 1000000)"
unset logscale; set grid ytics; set yrange [0:*]; set key inside top right font ',8'
set style data histograms; set style histogram clustered gap 1
set style fill solid 0.8 border -1; set boxwidth 0.9; set xtics rotate by -30
set title 'overhead per object (bytes above the request)'; set ylabel 'bytes'
plot 'memory.dat' using 2:xtic(1) title 'overhead/object'
set title 'resident set above the baseline (MiB)'; set ylabel 'MiB'
plot 'memory.dat' using 3:xtic(1) title 'peak', '' using 4 title 'after free', '' using 5 title 'after trim'
unset multiplot
