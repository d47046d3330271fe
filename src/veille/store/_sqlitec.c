/* Many rows through one SQLite statement with the interpreter lock released.
 *
 * The batch writer runs in a thread of the main process, beside the event loop that reads
 * the sources and decodes the worker processes' results. Python's sqlite3 binds each value
 * of an executemany while it holds the interpreter lock (GIL) and releases it only inside
 * sqlite3_step; so the binding of thousands of rows, and the per-row work of the module, are
 * serialised with everything else the main process does. Here the values are read once with
 * the lock held (a str gives its cached UTF-8 form, which lives as long as the str), then the
 * lock is released for the whole loop of bind, step and reset: the event loop runs meanwhile.
 *
 * The sqlite3 handle is read from the Connection object: Python's Modules/_sqlite keeps it as
 * the first field after the object header (3.4 to 3.13 at least). It may only be used when
 * this module and Python's _sqlite3 call the same SQLite library, which same_library()
 * checks (veille.store.bulk calls it once and falls back to the cursor otherwise).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <dlfcn.h>
#include <sqlite3.h>
#include <limits.h>

typedef struct {
    PyObject_HEAD
    sqlite3 *db;
} ConnectionHead;

enum kind { V_NULL, V_INT, V_FLOAT, V_TEXT, V_BLOB };

typedef struct {
    enum kind kind;
    Py_ssize_t size;
    union {
        long long i;
        double f;
        const char *p;
    } u;
} Value;

static PyObject *connection_type;  /* sqlite3.Connection */
static PyObject *sqlite_module;

/* Python's sqlite3, imported on first use: importing it starts SQLite, which must happen
 * after veille.store.sqlite_setup has configured the library. */
static int ensure_sqlite(void) {
    if (connection_type != NULL) return 0;
    sqlite_module = PyImport_ImportModule("sqlite3");
    if (sqlite_module == NULL) return -1;
    connection_type = PyObject_GetAttrString(sqlite_module, "Connection");
    return connection_type == NULL ? -1 : 0;
}

/* Read one value with the lock held; -1 with an exception set when it cannot be bound. */
static int read_value(PyObject *value, Value *out, Py_ssize_t row, Py_ssize_t column) {
    if (value == Py_None) {
        out->kind = V_NULL;
    } else if (PyUnicode_Check(value)) {
        out->u.p = PyUnicode_AsUTF8AndSize(value, &out->size);
        if (out->u.p == NULL) return -1;
        out->kind = V_TEXT;
    } else if (PyLong_Check(value)) {
        int overflow = 0;
        out->u.i = PyLong_AsLongLongAndOverflow(value, &overflow);
        if (overflow) {
            PyErr_Format(PyExc_OverflowError,
                         "row %zd, value %zd: Python int too large to convert to SQLite INTEGER",
                         row, column);
            return -1;
        }
        if (out->u.i == -1 && PyErr_Occurred()) return -1;
        out->kind = V_INT;
    } else if (PyFloat_Check(value)) {
        out->u.f = PyFloat_AS_DOUBLE(value);
        out->kind = V_FLOAT;
    } else if (PyBytes_Check(value)) {
        out->u.p = PyBytes_AS_STRING(value);
        out->size = PyBytes_GET_SIZE(value);
        out->kind = V_BLOB;
    } else {
        PyErr_Format(PyExc_TypeError,
                     "row %zd, value %zd: type %.100s is not supported (None, int, float, str, "
                     "bytes are)",
                     row, column, Py_TYPE(value)->tp_name);
        return -1;
    }
    return 0;
}

static int bind_value(sqlite3_stmt *stmt, int at, const Value *v, int bytes_as_text) {
    switch (v->kind) {
    case V_NULL:
        return sqlite3_bind_null(stmt, at);
    case V_INT:
        return sqlite3_bind_int64(stmt, at, v->u.i);
    case V_FLOAT:
        return sqlite3_bind_double(stmt, at, v->u.f);
    case V_TEXT:
        return sqlite3_bind_text64(stmt, at, v->u.p, (sqlite3_uint64)v->size, SQLITE_STATIC,
                                   SQLITE_UTF8);
    default:
        if (bytes_as_text)
            return sqlite3_bind_text64(stmt, at, v->u.p, (sqlite3_uint64)v->size, SQLITE_STATIC,
                                       SQLITE_UTF8);
        return sqlite3_bind_blob64(stmt, at, v->u.p, (sqlite3_uint64)v->size, SQLITE_STATIC);
    }
}

/* The exception Python's sqlite3 raises for an SQLite result code (its own mapping). */
static const char *error_class(int code) {
    switch (code & 0xff) {
    case SQLITE_INTERNAL:
    case SQLITE_NOTFOUND:
        return "InternalError";
    case SQLITE_CORRUPT:
        return "DatabaseError";
    case SQLITE_TOOBIG:
        return "DataError";
    case SQLITE_CONSTRAINT:
    case SQLITE_MISMATCH:
        return "IntegrityError";
    case SQLITE_MISUSE:
    case SQLITE_RANGE:
        return "InterfaceError";
    case SQLITE_ERROR:
    case SQLITE_PERM:
    case SQLITE_ABORT:
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
    case SQLITE_READONLY:
    case SQLITE_INTERRUPT:
    case SQLITE_IOERR:
    case SQLITE_FULL:
    case SQLITE_CANTOPEN:
    case SQLITE_PROTOCOL:
    case SQLITE_EMPTY:
    case SQLITE_SCHEMA:
        return "OperationalError";
    default:
        return "DatabaseError";
    }
}

static void raise_sqlite(int code, const char *message) {
    if ((code & 0xff) == SQLITE_NOMEM) {
        PyErr_NoMemory();
        return;
    }
    PyObject *cls = PyObject_GetAttrString(sqlite_module, error_class(code));
    if (cls == NULL) return;
    PyObject *error = PyObject_CallFunction(cls, "s", message);
    Py_DECREF(cls);
    if (error == NULL) return;
    /* The extended code, as Python's sqlite3 sets it; failing to set them is not the error to report. */
    PyObject *number = PyLong_FromLong(code);
    if (number == NULL || PyObject_SetAttrString(error, "sqlite_errorcode", number) < 0)
        PyErr_Clear();
    Py_XDECREF(number);
    PyErr_SetObject((PyObject *)Py_TYPE(error), error);
    Py_DECREF(error);
}

static sqlite3 *handle_of(PyObject *connection) {
    if (ensure_sqlite() < 0) return NULL;
    int is_connection = PyObject_IsInstance(connection, connection_type);
    if (is_connection < 0) return NULL;
    if (!is_connection) {
        PyErr_Format(PyExc_TypeError, "expected a sqlite3.Connection, not %.100s",
                     Py_TYPE(connection)->tp_name);
        return NULL;
    }
    sqlite3 *db = ((ConnectionHead *)connection)->db;
    if (db == NULL) {
        PyObject *cls = PyObject_GetAttrString(sqlite_module, "ProgrammingError");
        if (cls != NULL) {
            PyErr_SetString(cls, "Cannot operate on a closed database.");
            Py_DECREF(cls);
        }
    }
    return db;
}

static PyObject *executemany(PyObject *module, PyObject *args) {
    PyObject *connection, *sql, *given;
    int bytes_as_text = 0;
    if (!PyArg_ParseTuple(args, "OUO|p:executemany", &connection, &sql, &given, &bytes_as_text))
        return NULL;
    sqlite3 *db = handle_of(connection);
    if (db == NULL) return NULL;
    Py_ssize_t sql_size;
    const char *sql_text = PyUnicode_AsUTF8AndSize(sql, &sql_size);
    if (sql_text == NULL) return NULL;
    if (sql_size >= INT_MAX) {
        PyErr_SetString(PyExc_ValueError, "the SQL is too long");
        return NULL;
    }
    /* A tuple of the rows: nothing another thread does to the caller's list while the lock
     * is released can free a row (tuples and the values in them are immutable). */
    PyObject *rows = PySequence_Tuple(given);
    if (rows == NULL) return NULL;
    Py_ssize_t count = PyTuple_GET_SIZE(rows);
    if (count == 0) {
        Py_DECREF(rows);
        return PyLong_FromLong(0);
    }
    PyObject *first = PyTuple_GET_ITEM(rows, 0);
    if (!PyTuple_Check(first)) {
        PyErr_Format(PyExc_TypeError, "row 0 is a %.100s, not a tuple", Py_TYPE(first)->tp_name);
        Py_DECREF(rows);
        return NULL;
    }
    Py_ssize_t width = PyTuple_GET_SIZE(first);
    if (width == 0 || count > PY_SSIZE_T_MAX / width / (Py_ssize_t)sizeof(Value)) {
        PyErr_SetString(PyExc_ValueError, "rows must hold at least one value each");
        Py_DECREF(rows);
        return NULL;
    }
    Value *values = PyMem_Malloc((size_t)(count * width) * sizeof(Value));
    if (values == NULL) {
        Py_DECREF(rows);
        return PyErr_NoMemory();
    }
    for (Py_ssize_t r = 0; r < count; r++) {
        PyObject *row = PyTuple_GET_ITEM(rows, r);
        if (!PyTuple_Check(row) || PyTuple_GET_SIZE(row) != width) {
            PyErr_Format(PyExc_ValueError, "row %zd is not a tuple of %zd values", r, width);
            goto fail;
        }
        for (Py_ssize_t c = 0; c < width; c++) {
            if (read_value(PyTuple_GET_ITEM(row, c), &values[r * width + c], r, c) < 0)
                goto fail;
        }
    }

    sqlite3_stmt *stmt = NULL;
    long long changes = 0;
    int rc, blank = 0, parameters = -1;
    char *message = NULL;
    Py_BEGIN_ALLOW_THREADS
    rc = sqlite3_prepare_v3(db, sql_text, (int)sql_size + 1, 0, &stmt, NULL);
    if (rc == SQLITE_OK) {
        blank = stmt == NULL;  /* only spaces or comments */
        parameters = blank ? 0 : sqlite3_bind_parameter_count(stmt);
        if (parameters != width) rc = SQLITE_RANGE;
    }
    for (Py_ssize_t r = 0; rc == SQLITE_OK && r < count; r++) {
        const Value *row = &values[r * width];
        for (int c = 0; rc == SQLITE_OK && c < width; c++) rc = bind_value(stmt, c + 1, &row[c], bytes_as_text);
        if (rc == SQLITE_OK) {
            rc = sqlite3_step(stmt);
            if (rc == SQLITE_DONE || rc == SQLITE_ROW) {
                changes += sqlite3_changes(db);
                rc = sqlite3_reset(stmt);
            }
        }
    }
    if (rc != SQLITE_OK && rc != SQLITE_RANGE) {
        const char *text = sqlite3_errmsg(db);
        message = sqlite3_mprintf("%s", text ? text : sqlite3_errstr(rc));
        rc = sqlite3_extended_errcode(db);
    }
    sqlite3_finalize(stmt);
    Py_END_ALLOW_THREADS
    PyMem_Free(values);
    Py_DECREF(rows);
    if (rc == SQLITE_RANGE && parameters != width) {
        PyObject *cls = PyObject_GetAttrString(sqlite_module, "ProgrammingError");
        if (cls != NULL) {
            if (blank)
                PyErr_SetString(cls, "the SQL holds no statement");
            else
                PyErr_Format(cls, "the statement takes %d values, the rows hold %zd", parameters,
                             width);
            Py_DECREF(cls);
        }
        return NULL;
    }
    if (rc != SQLITE_OK) {
        raise_sqlite(rc, message ? message : sqlite3_errstr(rc));
        sqlite3_free(message);
        return NULL;
    }
    return PyLong_FromLongLong(changes);

fail:
    PyMem_Free(values);
    Py_DECREF(rows);
    return NULL;
}

/* Whether the SQLite that Python's _sqlite3 module (at `path`) calls is the one linked here:
 * the handle of a Connection may only be passed to the library that made it. */
static PyObject *same_library(PyObject *module, PyObject *path) {
    PyObject *bytes = PyUnicode_EncodeFSDefault(path);
    if (bytes == NULL) return NULL;
    void *loaded = dlopen(PyBytes_AS_STRING(bytes), RTLD_LAZY | RTLD_NOLOAD);
    Py_DECREF(bytes);
    if (loaded == NULL) Py_RETURN_FALSE;
    void *theirs = dlsym(loaded, "sqlite3_libversion_number");
    dlclose(loaded);
    if (theirs != (void *)sqlite3_libversion_number) Py_RETURN_FALSE;
    Py_RETURN_TRUE;
}

static PyMethodDef methods[] = {
    {"executemany", executemany, METH_VARARGS,
     "executemany(connection, sql, rows, bytes_as_text=False) -> int: run sql once per row (a "
     "tuple of None, int, float, str or bytes; bytes bound as UTF-8 text when bytes_as_text) "
     "with the interpreter lock released; the number of rows changed"},
    {"same_library", same_library, METH_O,
     "same_library(path) -> bool: whether the _sqlite3 module at path calls this SQLite"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef moduledef = {
    PyModuleDef_HEAD_INIT, "_sqlitec", "Batched SQLite statements without the interpreter lock.",
    -1, methods,
};

PyMODINIT_FUNC PyInit__sqlitec(void) { return PyModule_Create(&moduledef); }
