/** The floor: a new node process that does nothing but say it started. */
process.stdout.write('CREDENTIALS none\n');
