/* Compiled row builder of veille.store.rows: the insert rows of a round's new posts.
 *
 * post_rows() reads the fields of the Post and Author structs straight from their slots (their
 * offsets looked up once by configure()) instead of ~25 attribute loads and a tuple display per
 * post in the interpreter, and cuts the rows to the columns worth binding as it goes: a column
 * that every row leaves at its default is left out of the INSERT (the database then writes that
 * default), so no full-width tuple is built. The tests compare it with its Python twin,
 * post_rows_python, on generated posts.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>

/* The columns of ``count`` rows of ``width`` values (``cells``, row after row) worth inserting,
 * and the rows cut to them, as (kept positions, list of tuples); ``defaults`` is a tuple of
 * (position, value): what veille.store.rows.lean does. The cells are borrowed. */
static PyObject *cut(PyObject **cells, Py_ssize_t count, Py_ssize_t width, PyObject *defaults) {
    char *keep = PyMem_Malloc(width ? width : 1);
    if (!keep) return PyErr_NoMemory();
    memset(keep, 1, width);
    Py_ssize_t kept_count = width;
    PyObject *result = NULL, *kept = NULL, *rows = NULL;
    for (Py_ssize_t d = 0; d < PyTuple_GET_SIZE(defaults); d++) {
        PyObject *pair = PyTuple_GET_ITEM(defaults, d);
        if (!PyTuple_Check(pair) || PyTuple_GET_SIZE(pair) != 2) {
            PyErr_SetString(PyExc_TypeError, "defaults must be (position, value) pairs");
            goto done;
        }
        Py_ssize_t at = PyLong_AsSsize_t(PyTuple_GET_ITEM(pair, 0));
        if (at == -1 && PyErr_Occurred()) goto done;
        if (at < 0 || at >= width) {
            PyErr_Format(PyExc_IndexError, "default position %zd outside %zd columns", at, width);
            goto done;
        }
        PyObject *value = PyTuple_GET_ITEM(pair, 1);
        int all = 1;
        for (Py_ssize_t i = 0; i < count && all; i++) {
            PyObject *item = cells[i * width + at];
            if (item == value) continue;
            int equal = PyObject_RichCompareBool(item, value, Py_EQ);
            if (equal < 0) goto done;
            all = equal;
        }
        if (all && keep[at]) {
            keep[at] = 0;
            kept_count--;
        }
    }
    kept = PyTuple_New(kept_count);
    if (!kept) goto done;
    for (Py_ssize_t at = 0, k = 0; at < width; at++) {
        if (!keep[at]) continue;
        PyObject *position = PyLong_FromSsize_t(at);
        if (!position) goto done;
        PyTuple_SET_ITEM(kept, k++, position);
    }
    rows = PyList_New(count);
    if (!rows) goto done;
    for (Py_ssize_t i = 0; i < count; i++) {
        PyObject *row = PyTuple_New(kept_count);
        if (!row) goto done;
        for (Py_ssize_t at = 0, k = 0; at < width; at++) {
            if (!keep[at]) continue;
            PyObject *item = cells[i * width + at];
            Py_INCREF(item);
            PyTuple_SET_ITEM(row, k++, item);
        }
        PyList_SET_ITEM(rows, i, row);
    }
    result = PyTuple_Pack(2, kept, rows);
done:
    PyMem_Free(keep);
    Py_XDECREF(kept);
    Py_XDECREF(rows);
    return result;
}

/* --- post_rows ------------------------------------------------------------------------- */

enum {
    P_PLATFORM, P_NATIVE_ID, P_TEXT, P_AUTHOR, P_URL, P_LANG, P_LANG_HINT, P_CREATED_AT,
    P_RECEIVED_AT, P_REPLY_TO, P_ROOT_ID, P_QUOTE_OF, P_REPOST_OF, P_HASHTAGS, P_MENTIONS,
    P_LINKS, P_EDITED_AT, P_DELETED, P_RAW, P_COUNT
};
static const char *post_fields[P_COUNT] = {
    "platform", "native_id", "text", "author", "url", "lang", "lang_hint", "created_at",
    "received_at", "reply_to", "root_id", "quote_of", "repost_of", "hashtags", "mentions",
    "links", "edited_at", "deleted", "raw",
};
enum { A_ID, A_HANDLE, A_DISPLAY_NAME, A_FOLLOWERS, A_COUNT };
static const char *author_fields[A_COUNT] = {"id", "handle", "display_name", "followers"};

static PyTypeObject *post_type = NULL, *author_type = NULL;
static Py_ssize_t post_offsets[P_COUNT], author_offsets[A_COUNT];
static PyObject *post_names[P_COUNT], *author_names[A_COUNT];

/* The slot offsets of ``names`` in ``type``: each must be a plain object member. */
static int member_offsets(PyTypeObject *type, const char **names, PyObject **interned,
                          Py_ssize_t *offsets, int count) {
    for (int i = 0; i < count; i++) {
        PyObject *name = PyUnicode_InternFromString(names[i]);
        if (!name) return -1;
        Py_XSETREF(interned[i], name);
        PyObject *descr = PyDict_GetItemWithError(type->tp_dict, name);
        if (!descr) {
            if (!PyErr_Occurred())
                PyErr_Format(PyExc_TypeError, "%s has no field %s", type->tp_name, names[i]);
            return -1;
        }
        if (Py_TYPE(descr) != &PyMemberDescr_Type) {
            PyErr_Format(PyExc_TypeError, "%s.%s is not a slot", type->tp_name, names[i]);
            return -1;
        }
        PyMemberDef *member = ((PyMemberDescrObject *)descr)->d_member;
        if (member->type != T_OBJECT_EX && member->type != T_OBJECT) {
            PyErr_Format(PyExc_TypeError, "%s.%s is not an object slot", type->tp_name, names[i]);
            return -1;
        }
        offsets[i] = member->offset;
    }
    return 0;
}

/* configure(Post, Author): where post_rows() finds each field. */
static PyObject *configure(PyObject *module, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 2 || !PyType_Check(args[0]) || !PyType_Check(args[1])) {
        PyErr_SetString(PyExc_TypeError, "configure() takes the Post and Author types");
        return NULL;
    }
    PyTypeObject *post = (PyTypeObject *)args[0], *author = (PyTypeObject *)args[1];
    if (member_offsets(post, post_fields, post_names, post_offsets, P_COUNT) < 0 ||
        member_offsets(author, author_fields, author_names, author_offsets, A_COUNT) < 0)
        return NULL;
    Py_INCREF(post);
    Py_XSETREF(post_type, post);
    Py_INCREF(author);
    Py_XSETREF(author_type, author);
    Py_RETURN_NONE;
}

/* A new reference to field ``i`` of ``obj``: read from its slot when ``obj`` is exactly the
 * configured type, else by attribute (a subclass may override it). */
static PyObject *field(PyObject *obj, PyTypeObject *type, Py_ssize_t *offsets, PyObject **names,
                       int i) {
    if (Py_TYPE(obj) == type) {
        PyObject *value = *(PyObject **)((char *)obj + offsets[i]);
        if (value) {
            Py_INCREF(value);
            return value;
        }
    }
    return PyObject_GetAttr(obj, names[i]);
}

#define POST(obj, i) field((obj), post_type, post_offsets, post_names, (i))
#define AUTHOR(obj, i) field((obj), author_type, author_offsets, author_names, (i))

/* None for None, else to_time(value). */
static PyObject *bound_time(PyObject *to_time, PyObject *value) {
    if (value == Py_None) Py_RETURN_NONE;
    return PyObject_CallOneArg(to_time, value);
}

/* empty_json for an empty tuple, else dumps(value).decode(). */
static PyObject *json_list(PyObject *dumps, PyObject *value, PyObject *empty_json) {
    if (PyTuple_Check(value) && PyTuple_GET_SIZE(value) == 0) {
        Py_INCREF(empty_json);
        return empty_json;
    }
    PyObject *encoded = PyObject_CallOneArg(dumps, value);
    if (!encoded) return NULL;
    if (!PyBytes_Check(encoded)) {
        Py_DECREF(encoded);
        PyErr_SetString(PyExc_TypeError, "dumps() must return bytes");
        return NULL;
    }
    PyObject *text =
        PyUnicode_DecodeUTF8(PyBytes_AS_STRING(encoded), PyBytes_GET_SIZE(encoded), "strict");
    Py_DECREF(encoded);
    return text;
}

static int check_list(PyObject *obj, const char *what) {
    if (!PyList_Check(obj)) {
        PyErr_Format(PyExc_TypeError, "post_rows() %s must be a list", what);
        return -1;
    }
    return 0;
}

static PyObject *list_at(PyObject *list, PyObject *index, const char *what) {
    Py_ssize_t at = PyLong_AsSsize_t(index);
    if (at == -1 && PyErr_Occurred()) return NULL;
    if (at < 0 || at >= PyList_GET_SIZE(list)) {
        PyErr_Format(PyExc_IndexError, "post_rows() %s index %zd out of range", what, at);
        return NULL;
    }
    return PyList_GET_ITEM(list, at); /* borrowed */
}

#define ROW_WIDTH 28

/* post_rows(posts, fresh, indices, ids, roots, folded, payloads, post_ids, stored, to_time,
 *           dumps, fold, empty_json, defaults) -> (kept, rows, deleted): see
 *           veille.store.rows.post_rows_python.
 * The values of every row are gathered first, then cut to the columns worth inserting: no
 * full-width tuple is built. */
static PyObject *post_rows(PyObject *module, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 14) {
        PyErr_SetString(PyExc_TypeError, "post_rows() takes 14 arguments");
        return NULL;
    }
    if (!post_type) {
        PyErr_SetString(PyExc_RuntimeError, "post_rows() before configure()");
        return NULL;
    }
    PyObject *posts = args[0], *fresh = args[1], *indices = args[2], *ids = args[3],
             *roots = args[4], *folded = args[5], *payloads = args[6], *post_ids = args[7],
             *stored = args[8], *to_time = args[9], *dumps = args[10], *fold = args[11],
             *empty_json = args[12], *defaults = args[13];
    if (!PyTuple_Check(defaults)) {
        PyErr_SetString(PyExc_TypeError, "post_rows() defaults must be a tuple");
        return NULL;
    }
    if (check_list(posts, "posts") || check_list(fresh, "fresh") ||
        check_list(indices, "indices") || check_list(ids, "ids") || check_list(roots, "roots") ||
        check_list(post_ids, "post_ids") || (folded != Py_None && check_list(folded, "folded")) ||
        (payloads != Py_None && check_list(payloads, "payloads")))
        return NULL;
    Py_ssize_t count = PyList_GET_SIZE(fresh);
    if (PyList_GET_SIZE(ids) != count) {
        PyErr_SetString(PyExc_ValueError, "post_rows() needs one id per fresh post");
        return NULL;
    }
    if (count == 0) {
        PyErr_SetString(PyExc_ValueError, "post_rows() needs at least one post");
        return NULL;
    }
    /* Every value of every row, owned, row after row; NULL where not set yet. */
    PyObject **cells = PyMem_Calloc(count * ROW_WIDTH, sizeof(PyObject *));
    if (!cells) return PyErr_NoMemory();
    PyObject *one = PyLong_FromLong(1);
    if (!one) goto fail;
    PyObject *received = NULL, *received_bound = NULL; /* one arrival time per source batch */
    Py_ssize_t deleted = 0;
    for (Py_ssize_t k = 0; k < count; k++) {
        PyObject **values = cells + k * ROW_WIDTH;
        PyObject *position = PyList_GET_ITEM(fresh, k), *post_id = PyList_GET_ITEM(ids, k);
        PyObject *post = list_at(posts, position, "posts");
        PyObject *index_obj = post ? list_at(indices, position, "indices") : NULL;
        PyObject *root = index_obj ? list_at(roots, position, "roots") : NULL;
        if (!root) goto fail_row;
        Py_ssize_t index = PyLong_AsSsize_t(index_obj);
        if (index == -1 && PyErr_Occurred()) goto fail_row;
        if (index < 0 || index >= PyList_GET_SIZE(post_ids)) {
            PyErr_Format(PyExc_IndexError, "post_rows() post index %zd out of range", index);
            goto fail_row;
        }
        Py_INCREF(post_id);
        PyList_SetItem(post_ids, index, post_id); /* steals; releases the old value */
        PyObject *author = POST(post, P_AUTHOR);
        if (!author) goto fail_row;
        values[0] = post_id;
        Py_INCREF(post_id);
        if (!(values[1] = POST(post, P_PLATFORM))) goto fail_row;
        if (!(values[2] = POST(post, P_NATIVE_ID))) goto fail_row;
        if (!(values[3] = POST(post, P_URL))) goto fail_row;
        int author_ok = (values[4] = AUTHOR(author, A_ID)) && (values[5] = AUTHOR(author, A_HANDLE)) &&
                        (values[6] = AUTHOR(author, A_DISPLAY_NAME)) &&
                        (values[7] = AUTHOR(author, A_FOLLOWERS));
        Py_DECREF(author);
        if (!author_ok) goto fail_row;
        if (!(values[8] = POST(post, P_TEXT))) goto fail_row;
        if (folded == Py_None) {
            if (!(values[9] = PyObject_CallOneArg(fold, values[8]))) goto fail_row;
        } else {
            if (index >= PyList_GET_SIZE(folded)) {
                PyErr_Format(PyExc_IndexError, "post_rows() folded index %zd out of range", index);
                goto fail_row;
            }
            values[9] = PyList_GET_ITEM(folded, index);
            Py_INCREF(values[9]);
        }
        if (!(values[10] = POST(post, P_LANG))) goto fail_row;
        if (!(values[11] = POST(post, P_LANG_HINT))) goto fail_row;
        PyObject *created = POST(post, P_CREATED_AT);
        if (!created) goto fail_row;
        values[12] = bound_time(to_time, created);
        Py_DECREF(created);
        if (!values[12]) goto fail_row;
        PyObject *arrived = POST(post, P_RECEIVED_AT);
        if (!arrived) goto fail_row;
        int same = 0;
        if (received) {
            same = arrived == received ? 1 : PyObject_RichCompareBool(arrived, received, Py_EQ);
            if (same < 0) {
                Py_DECREF(arrived);
                goto fail_row;
            }
        }
        if (!same) {
            PyObject *bound = bound_time(to_time, arrived);
            if (!bound) {
                Py_DECREF(arrived);
                goto fail_row;
            }
            Py_XSETREF(received_bound, bound);
            Py_XSETREF(received, arrived);
        } else {
            Py_DECREF(arrived);
        }
        values[13] = received_bound;
        Py_INCREF(received_bound);
        values[14] = stored;
        Py_INCREF(stored);
        if (!(values[15] = POST(post, P_REPLY_TO))) goto fail_row;
        if (!(values[16] = POST(post, P_ROOT_ID))) goto fail_row;
        values[17] = root;
        Py_INCREF(root);
        if (!(values[18] = POST(post, P_QUOTE_OF))) goto fail_row;
        if (!(values[19] = POST(post, P_REPOST_OF))) goto fail_row;
        for (int j = 0; j < 3; j++) {
            PyObject *list = POST(post, P_HASHTAGS + j);
            if (!list) goto fail_row;
            values[20 + j] = json_list(dumps, list, empty_json);
            Py_DECREF(list);
            if (!values[20 + j]) goto fail_row;
        }
        PyObject *edited = POST(post, P_EDITED_AT);
        if (!edited) goto fail_row;
        values[23] = bound_time(to_time, edited);
        Py_DECREF(edited);
        if (!values[23]) goto fail_row;
        if (!(values[24] = POST(post, P_DELETED))) goto fail_row;
        int is_deleted = PyObject_IsTrue(values[24]);
        if (is_deleted < 0) goto fail_row;
        deleted += is_deleted;
        values[25] = is_deleted ? stored : Py_None;
        Py_INCREF(values[25]);
        values[26] = one;
        Py_INCREF(one);
        PyObject *payload = Py_None;
        if (payloads != Py_None) {
            if (index >= PyList_GET_SIZE(payloads)) {
                PyErr_Format(PyExc_IndexError, "post_rows() payloads index %zd out of range",
                             index);
                goto fail_row;
            }
            payload = PyList_GET_ITEM(payloads, index);
        }
        if (payload != Py_None) {
            values[27] = payload;
            Py_INCREF(payload);
        } else if (!(values[27] = POST(post, P_RAW))) {
            goto fail_row;
        }
        continue;
    fail_row:
        Py_XDECREF(received);
        Py_XDECREF(received_bound);
        goto fail;
    }
    Py_XDECREF(received);
    Py_XDECREF(received_bound);
    Py_DECREF(one);
    PyObject *lean_rows = cut(cells, count, ROW_WIDTH, defaults);
    for (Py_ssize_t i = 0; i < count * ROW_WIDTH; i++) Py_DECREF(cells[i]);
    PyMem_Free(cells);
    if (!lean_rows) return NULL;
    PyObject *result = Py_BuildValue("(OOn)", PyTuple_GET_ITEM(lean_rows, 0),
                                     PyTuple_GET_ITEM(lean_rows, 1), deleted);
    Py_DECREF(lean_rows);
    return result;
fail:
    Py_XDECREF(one);
    for (Py_ssize_t i = 0; i < count * ROW_WIDTH; i++) Py_XDECREF(cells[i]);
    PyMem_Free(cells);
    return NULL;
}

static PyMethodDef methods[] = {
    {"configure", (PyCFunction)(void (*)(void))configure, METH_FASTCALL,
     "configure(Post, Author): where post_rows() reads each field"},
    {"post_rows", (PyCFunction)(void (*)(void))post_rows, METH_FASTCALL,
     "post_rows(posts, fresh, indices, ids, roots, folded, payloads, post_ids, stored, to_time, "
     "dumps, fold, empty_json, defaults) -> (kept, rows, deleted)"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef moduledef = {
    PyModuleDef_HEAD_INIT, "_rowsc", "Compiled row helpers of veille.store.rows.", -1, methods,
};

PyMODINIT_FUNC PyInit__rowsc(void) { return PyModule_Create(&moduledef); }
