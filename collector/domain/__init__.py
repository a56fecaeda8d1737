"""Pure domain maths: functions over numbers, with the regulations' tables as data in `tables/`.

Nothing here does I/O beyond reading its own table files once; processors and the CLI feed it.
"""
