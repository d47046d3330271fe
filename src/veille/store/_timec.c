/* Compiled to_micros of veille.store.types: a datetime as integer microseconds since the Unix
 * epoch (naive values are taken as UTC), the way SQLite keeps times. The pure-Python version
 * subtracts the epoch and divides by a timedelta, ~20x the work for the created_at of every
 * stored post. The tests compare both on generated datetimes.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <datetime.h>

/* Days from 1970-01-01 to year-month-day (proleptic Gregorian; H. Hinnant's algorithm). */
static long long days_from_civil(long long y, unsigned m, unsigned d) {
    y -= m <= 2;
    const long long era = (y >= 0 ? y : y - 399) / 400;
    const unsigned yoe = (unsigned)(y - era * 400);
    const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (long long)doe - 719468;
}

static PyObject *to_micros(PyObject *module, PyObject *value) {
    if (!PyDateTime_Check(value)) {
        PyErr_Format(PyExc_TypeError, "to_micros() expects a datetime, not %.100s",
                     Py_TYPE(value)->tp_name);
        return NULL;
    }
    long long days = days_from_civil(PyDateTime_GET_YEAR(value), PyDateTime_GET_MONTH(value),
                                      PyDateTime_GET_DAY(value));
    long long seconds = days * 86400LL + PyDateTime_DATE_GET_HOUR(value) * 3600LL +
                        PyDateTime_DATE_GET_MINUTE(value) * 60LL + PyDateTime_DATE_GET_SECOND(value);
    long long micros = seconds * 1000000LL + PyDateTime_DATE_GET_MICROSECOND(value);
    PyObject *tz = PyDateTime_DATE_GET_TZINFO(value);
    if (tz != Py_None && tz != PyDateTime_TimeZone_UTC) {
        PyObject *offset = PyObject_CallMethod(value, "utcoffset", NULL);
        if (!offset) return NULL;
        if (PyDelta_Check(offset)) {
            micros -= (PyDateTime_DELTA_GET_DAYS(offset) * 86400LL +
                       PyDateTime_DELTA_GET_SECONDS(offset)) * 1000000LL +
                      PyDateTime_DELTA_GET_MICROSECONDS(offset);
        } else if (offset != Py_None) {
            Py_DECREF(offset);
            PyErr_SetString(PyExc_TypeError, "utcoffset() must return a timedelta or None");
            return NULL;
        }
        Py_DECREF(offset);
    }
    return PyLong_FromLongLong(micros);
}

static PyMethodDef methods[] = {
    {"to_micros", to_micros, METH_O, "to_micros(datetime) -> microseconds since the Unix epoch"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef moduledef = {
    PyModuleDef_HEAD_INIT, "_timec", "Compiled time conversion of veille.store.types.", -1, methods,
};

PyMODINIT_FUNC PyInit__timec(void) {
    PyDateTime_IMPORT;
    if (!PyDateTimeAPI) return NULL;
    return PyModule_Create(&moduledef);
}
