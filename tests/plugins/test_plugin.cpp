// The xmodal plugin loads from the build tree (GST_PLUGIN_PATH, set by meson test) and routes
// libxmodal's log messages into GStreamer's debug log.
#include <gst/gst.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "xmodal/log.hpp"

namespace {

std::vector<std::string> captured;

void capture(GstDebugCategory* category, GstDebugLevel level, const gchar*, const gchar*, gint, GObject*,
             GstDebugMessage* message, gpointer) {
    if (std::string(gst_debug_category_get_name(category)) == "xmodal" && level == GST_LEVEL_WARNING)
        captured.emplace_back(gst_debug_message_get(message));
}

TEST(Plugin, RegistersFromTheBuildTree) {
    GstPlugin* plugin = gst_registry_find_plugin(gst_registry_get(), "xmodal");
    ASSERT_NE(plugin, nullptr) << "plugin 'xmodal' not found; GST_PLUGIN_PATH=" << g_getenv("GST_PLUGIN_PATH");
    EXPECT_STREQ(gst_plugin_get_version(plugin), "0.1.0");
    EXPECT_NE(std::string(gst_plugin_get_description(plugin)).find("cross-modal attention"), std::string::npos);
    gst_object_unref(plugin);
}

TEST(Plugin, LibraryLogsGoToTheGstDebugLog) {
    GstPlugin* plugin = gst_plugin_load_by_name("xmodal");
    ASSERT_NE(plugin, nullptr);
    gst_debug_set_threshold_for_name("xmodal", GST_LEVEL_WARNING);
    (gst_debug_add_log_function)(capture, nullptr, nullptr);  // parenthesised: the macro is not C++-pedantic-clean
    xmodal::log(xmodal::LogLevel::warning, "bf16 requested but not native");
    (gst_debug_remove_log_function)(capture);
    ASSERT_EQ(captured.size(), 1u);
    EXPECT_EQ(captured[0], "bf16 requested but not native");
    gst_object_unref(plugin);
}

}  // namespace

int main(int argc, char** argv) {
    gst_init(&argc, &argv);
    ::testing::InitGoogleTest(&argc, argv);
    return RUN_ALL_TESTS();
}
