// Declares commands and options only; each verb's code is lazy-loaded from ./commands/<verb>.js
// and is a function over a typed options object, so tests call it directly.
import { toolVersion } from '../version.js';
import { Command } from 'commander';

const EXIT_CODES_HELP = `
Exit codes:
  0  nothing failing
  1  failures, findings or regressions (see --fail-on)
  2  usage or configuration error (bad flag, bad suite file)
  3  infrastructure error (QEMU, SSH, image build)
bisect-step exits as git bisect run expects: 0 good, 1 bad, 125 skip, 128 abort.`;

const collect = (value: string, previous: string[] = []): string[] => [...previous, value];

export function buildProgram(): Command {
  const program = new Command('hotunplug-ci')
    .description('Remove devices from a QEMU guest while user space holds their fds; classify what the kernel does.')
    .version(toolVersion())
    .exitOverride()
    .showSuggestionAfterError()
    .addHelpText('after', EXIT_CODES_HELP);
  let exitCode = 0;
  const done = (code: number): void => {
    exitCode = code;
    program.setOptionValue('__exitCode', exitCode);
  };

  program
    .command('doctor')
    .description('check QEMU, accelerator, Debian packages, cache dir and free disk')
    .option('--json', 'print one JSON object')
    .action(async (opts) => done(await (await import('./commands/doctor.js')).doctor(opts)));

  program
    .command('boot')
    .description('boot an image, wait for sshd and the agent, optionally run a command')
    .option('--image <name>', 'image to boot (default: the KASAN image, kasan-6.12)')
    .option('--kernel <bzImage>', 'a kernel someone else built (with --modules)')
    .option('--modules <dir>', 'modules directory for --kernel (lib/modules/<release>)')
    .option('--exec <cmd>', 'run this command in the guest and print its output')
    .option('--keep', 'keep the guest running until Ctrl-C')
    .action(async (opts) => done(await (await import('./commands/boot.js')).boot(opts)));

  const image = program.command('image').description('build and list guest images');
  image
    .command('build')
    .argument('[names...]', 'images to build (default: the default image)')
    .option('--kernel-src <dir>', 'build a kernel tree of your own with our fragments')
    .option('--fragment <file>', 'an extra config fragment (repeatable)', collect, [])
    .option('--name <name>', 'name for an image built from --kernel-src')
    .option('--recipe <image|file>', 'with --kernel-src: build the tree as this source image is built (default: kasan-6.12)')
    .option('--force', 'rebuild even if cached')
    .action(async (names, opts) => done(await (await import('./commands/image.js')).imageBuild(names, opts)));
  image
    .command('list')
    .option('--json', 'print JSON')
    .action(async (opts) => done(await (await import('./commands/image.js')).imageList(opts)));

  program
    .command('triage')
    .description('find kernel reports (oops, KASAN, WARNING, hangs…) in a console log')
    .argument('<file>', 'console log ("-" for stdin)')
    .option('--json', 'print {"findings":[…]}')
    .option('--vmlinux <path>', 'resolve func+off frames to file:line with addr2line')
    .action(async (file, opts) => done(await (await import('./commands/triage.js')).triage(file, opts)));

  program
    .command('report')
    .description('re-render index.html, junit.xml, kcidb.json and results.ktap of a run from its run.json; --submit posts kcidb.json to KCIDB')
    .argument('<run-dir>', 'reports/<run-id> directory (or its run.json)')
    .option('--origin <name>', 'KCIDB origin', 'hotunplug')
    .option('--fail-on <list>', 'verdicts that are JUnit failures', 'crashed,hung')
    .option('--submit', 'post kcidb.json to the KCIDB REST endpoint in $KCIDB_REST (https://TOKEN@host/submit)')
    .action(async (runDir, opts) => done(await (await import('./commands/report.js')).report(runDir, opts)));

  program
    .command('repro')
    .description('run one case of an earlier run again and print the QEMU argv it used')
    .argument('<run-dir>', 'reports/<run-id> directory (or its run.json)')
    .argument('<case>', 'case id, e.g. i2c/i801-unbind-dev-smbus')
    .option('--image <name>', 'which image, when the case ran on several')
    .option('--out <dir>', "write the new run's reports under <dir>/reports (default: current directory)")
    .action(async (runDir, caseId, opts) => done(await (await import('./commands/repro.js')).repro(runDir, caseId, opts)));

  program
    .command('compare')
    .description('regressions between two runs: new findings, fixed, changed verdicts, flaky cases')
    .argument('<base>', 'baseline run.json or run directory')
    .argument('<new>', 'new run.json or run directory')
    .option('--fail-on <list>', 'verdicts that fail when new (exit 1)', 'crashed,hung')
    .option('--json', 'print the comparison as JSON')
    .action(async (base, next, opts) => done(await (await import('./commands/compare.js')).compare(base, next, opts)));

  program
    .command('map')
    .description('the subsystem × removal-method map of runs: what each did with the held fds, per kernel')
    .argument('<run-dir...>', 'run directories or run.json files (one per kernel, or shards)')
    .option('--json', 'print the map as JSON')
    .action(async (runDirs: string[], opts) => done(await (await import('./commands/map.js')).map(runDirs, opts)));

  program
    .command('run')
    .description('run suites: remove devices under held fds, classify each case and subsystem')
    .requiredOption('--suite <list>', 'comma-separated suites (see `list`), or "all"')
    .option('--image <name>', "image to run on (repeatable; default: each suite's images)", collect, [])
    .option('--kernel <bzImage>', 'a kernel someone else built (with --modules)')
    .option('--modules <dir>', 'modules directory for --kernel (lib/modules/<release>)')
    .option('--kernel-src <dir>', 'build this kernel tree (incrementally, cached) and run on it')
    .option('--recipe <image|file>', 'with --kernel-src: build it as this source image is built (default: kasan-6.12)')
    .option('--fragment <file>', 'with --kernel-src: an extra config fragment (repeatable)', collect, [])
    .option('--case <glob>', 'only cases whose id matches (e.g. "gpio/sim-*-req-*")')
    .option('--iterations <n>', 'run every case n times (default 1; 5 with --stress)')
    .option('--stress [workers]', "hammer each case's fd during the removal: workers threads per op and reopening its node (default 2)")
    .option('--out <dir>', 'write reports under <dir>/reports/<run-id> (default: current directory)')
    .option('--json', 'print the run summary as JSON')
    .option('--baseline <file>', 'compare with a baseline run.json; exit 1 on regressions')
    .option('--fail-on <list>', 'verdicts that fail the run (exit 1)', 'crashed,hung')
    .option('--jobs <n>', 'VMs running at once (default: from cores and memory)')
    .option('--shard <i/n>', "run only shard i of n (a case's shard is a hash of its id)")
    .option('--no-controls', 'do not add the canary calibration cases a run gets when it selects none')
    .option('--boot-attempts <n>', 'boots of a VM on fresh QEMUs before its cases are given up', '3')
    .option('--no-snapshots', 'boot every VM: neither restore saved ready guests nor save them')
    .action(async (opts) => done(await (await import('./commands/run.js')).runCommand(opts)));

  program
    .command('bisect-step')
    .description('one step of `git bisect run`: build the tree at HEAD, run the case(s); exit 0 good, 1 bad, 125 skip, 128 abort')
    .requiredOption('--case <glob>', 'the case(s) whose finding is bisected')
    .option('--kernel-src <dir>', 'the kernel tree being bisected', '.')
    .option('--suite <list>', 'suites (names or files) holding the case(s)', 'all')
    .option('--repeat <n>', 'runs of each case; bad when the finding shows in any', '1')
    .option('--title <text>', "bad when a finding's title contains this (default: a verdict of --verdict)")
    .option('--verdict <list>', 'without --title: the verdicts that are bad', 'crashed,hung')
    .option('--recipe <image|file>', 'build the tree as this source image is built (default: kasan-6.12)')
    .option('--fragment <file>', 'an extra config fragment (repeatable)', collect, [])
    .option('--out <dir>', "write each step's reports under <dir>/reports (default: the cache's bisect/)")
    .option('--jobs <n>', 'VMs running at once')
    .option('--no-controls', 'do not run the canary controls (a recipe with the canary modules runs them)')
    .addHelpText(
      'after',
      `
Exit codes (git bisect run's): 0 good, 1 bad, 125 skip (the build failed, Kconfig dropped a needed
option, the controls were not trusted, a case errored or was skipped), 128 abort (usage errors).

  git bisect start BAD GOOD
  git bisect run hotunplug-ci bisect-step --case 'gpio/sim-configfs-edgewait-read' --repeat 3`,
    )
    .action(async (opts) => done(await (await import('./commands/bisect-step.js')).bisectStep(opts)));

  program
    .command('merge')
    .description('merge the runs of CI shards (run --shard I/N) into one run and one report')
    .argument('<dirs...>', 'run directories (reports/<run-id>) or run.json files, one per shard')
    .option('--out <dir>', 'write reports under <dir>/reports/<merged-run-id> (default: current directory)')
    .option('--json', 'print the merged run summary as JSON')
    .option('--fail-on <list>', 'verdicts that fail the merged run (exit 1)', 'crashed,hung')
    .option('--origin <name>', 'KCIDB origin', 'hotunplug')
    .action(async (dirs, opts) => done(await (await import('./commands/merge.js')).merge(dirs, opts)));

  program
    .command('list')
    .description('list suites, cases, the kernel options they need, and images')
    .option('--json', 'print JSON')
    .action(async (opts) => done(await (await import('./commands/list.js')).list(opts)));

  return program;
}
