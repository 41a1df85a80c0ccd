package org.clipsurgery.cli;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import org.clipsurgery.Method;

/** A list of method names on the command line ({@code bench --methods}, {@code compare --methods}). */
final class Methods {
    private Methods() {}

    /** Names in any case, or the single word "all" for every method in {@link Method}'s order. */
    static List<Method> parse(List<String> names, String option) {
        if (names.size() == 1 && names.get(0).trim().equalsIgnoreCase("all")) return List.of(Method.values());
        List<Method> out = new ArrayList<>();
        for (String m : names) {
            try {
                Method method = Method.valueOf(m.trim().toUpperCase(Locale.ROOT));
                if (!out.contains(method)) out.add(method);
            } catch (IllegalArgumentException e) {
                throw new UsageException(option + ": unknown method '" + m + "' (surgery, sclip, clearclip, naclip, maskclip, "
                        + "gem, plain, or all)");
            }
        }
        return out;
    }
}
