#!/bin/sh
# source = teacher_class: labels a network can learn (test accuracy far
# above chance, with label noise), on several [job] seed values; gaussian
# labels are independent of x and stay at chance; teacher (regression)
# still refuses label_noise, naming teacher_class; `keys` says for every
# source what its labels are.
. tests/lib.sh
J=tests/jobs/teacher_class.ini
acc() { # archive -> test_acc of its single grid line
    $B info "$1" | awk '$0 ~ /test_acc/ { for (i = 1; i <= NF; i++) if ($i == "test_acc") c = i; getline; print $c }'
}
for seed in 1 2 3; do
    $MPIRUN -np 1 $B run $J -o "$T/t$seed.h5" -q --set job.seed=$seed || { echo "FAIL: teacher_class run, seed $seed"; fails=$((fails + 1)); }
    $MPIRUN -np 1 $B run $J -o "$T/g$seed.h5" -q --set job.seed=$seed --set data.source=gaussian || { echo "FAIL: gaussian run, seed $seed"; fails=$((fails + 1)); }
    a=$(acc "$T/t$seed.h5"); g=$(acc "$T/g$seed.h5")
    echo "job seed $seed: teacher_class test_acc $a, gaussian test_acc $g (chance 0.333)"
    awk -v a="$a" 'BEGIN { exit !(a > 0.6) }' || { echo "FAIL: teacher_class not learned (test_acc $a)"; fails=$((fails + 1)); }
    awk -v g="$g" 'BEGIN { exit !(g < 0.45) }' || { echo "FAIL: gaussian above chance (test_acc $g)"; fails=$((fails + 1)); }
done
# Two classes on one output (+-1 targets) learn too.
$MPIRUN -np 1 $B run $J -o "$T/k1.h5" -q --set data.classes=1 || { echo "FAIL: classes = 1 run"; fails=$((fails + 1)); }
a=$(acc "$T/k1.h5"); echo "classes = 1: test_acc $a (chance 0.5)"
awk -v a="$a" 'BEGIN { exit !(a > 0.75) }' || { echo "FAIL: teacher_class K=1 not learned ($a)"; fails=$((fails + 1)); }
$B validate $J --set data.source=teacher >"$T/out" 2>&1; rc=$?
{ [ $rc -eq 2 ] && grep -qF "source = teacher is regression; teacher_class has labels" "$T/out"; } || { echo "FAIL: teacher + label_noise: exit $rc"; cat "$T/out"; fails=$((fails + 1)); }
$B keys > "$T/keys"
for w in "fashion_mnist = 10 clothing classes" "INDEPENDENT of x" "sines = regression" "teacher = regression" "teacher_class = \`classes\` labels"; do
    grep -qF -- "$w" "$T/keys" || { echo "FAIL: keys does not say '$w'"; fails=$((fails + 1)); }
done
finish t_teacher_class
